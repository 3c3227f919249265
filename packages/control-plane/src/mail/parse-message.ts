import { type AddressObject, type EmailAddress, simpleParser } from 'mailparser';
import type { MailMessage } from '../types.ts';

/** What the sink keeps of a message besides its id and arrival. */
export type ParsedMessage = Omit<MailMessage, 'id' | 'receivedAt' | 'receivedCount'>;

/** How much of a message's headers and text is kept. */
export interface ParseLimits {
  textChars: number;
  headerChars: number;
  htmlToTextChars: number;
  /** Most addresses kept of one address header. */
  maxRecipients: number;
}

/**
 * Parses a raw message into the fields the sink lists, each bounded, so that one odd message
 * cannot make the index or the API answers large. The envelope's recipients are kept beside the
 * headers' because Bcc recipients appear only there.
 */
export async function parseMessage(
  raw: Buffer,
  envelopeTo: readonly string[],
  limits: ParseLimits,
): Promise<ParsedMessage> {
  const mail = await simpleParser(raw, {
    skipTextToHtml: true,
    skipImageLinks: true,
    keepCidLinks: true,
    checksumAlgo: false,
    maxHtmlLengthToParse: limits.htmlToTextChars,
  });
  const text = mail.text ?? '';
  return {
    messageId: mail.messageId ?? null,
    from: cut(mail.from?.text ?? '', limits.headerChars),
    to: addresses(mail.to).slice(0, limits.maxRecipients),
    cc: addresses(mail.cc).slice(0, limits.maxRecipients),
    envelopeTo: [...envelopeTo],
    subject: cut(mail.subject ?? '', limits.headerChars),
    size: raw.length,
    text: cut(text, limits.textChars),
    textTruncated: text.length > limits.textChars,
  };
}

/** The mailbox addresses of an address header, groups flattened into their members. */
function addresses(header: AddressObject | AddressObject[] | undefined): string[] {
  const flatten = (entries: EmailAddress[]): string[] =>
    entries.flatMap((e) => (e.group ? flatten(e.group) : e.address ? [e.address] : []));
  return [header ?? []].flat().flatMap((h) => flatten(h.value));
}

/** The first `chars` UTF-16 units of `text`, one fewer when the cut would split a surrogate pair. */
function cut(text: string, chars: number): string {
  if (text.length <= chars) return text;
  const end = /[\uD800-\uDBFF]/.test(text[chars - 1] ?? '') ? chars - 1 : chars;
  return text.slice(0, end);
}
