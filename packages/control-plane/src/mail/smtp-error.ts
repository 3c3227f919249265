/** An error smtp-server answers with: `responseCode` is the SMTP reply code the client gets. */
export function smtpError(responseCode: number, message: string): Error & { responseCode: number } {
  return Object.assign(new Error(message), { responseCode });
}
