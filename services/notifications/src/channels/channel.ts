/** One message to deliver on a channel. `messageId` is stable across resends of the same notification. */
export interface OutgoingMessage {
  messageId: string;
  /** An email address, a phone number (E.164), or a user id for push. */
  to: string;
  subject: string;
  body: string;
}

/**
 * A delivery channel (email, SMS, push). `send` resolves once the provider has accepted the
 * message; a rejection is retried later with the same `messageId`.
 */
export interface Channel {
  send(message: OutgoingMessage): Promise<void>;
  close(): Promise<void>;
}
