export { MailError, type MailErrorCode } from './errors.ts';
export { MailStore, type MailStoreOptions, type StoreResult } from './mail-store.ts';
export { type ParsedMessage, parseMessage } from './parse-message.ts';
export { relayAddress } from './relay-address.ts';
export { type MailLimits, type MailSink, type MailSinkOptions, startMailSink } from './sink.ts';
export { type Mail, type StartMailOptions, startMail } from './start-mail.ts';
