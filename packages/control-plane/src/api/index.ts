export { type Caller, identifyCaller } from './auth.ts';
export type {
  ApiBackend,
  DeadLetterSource,
  LogFilter,
  LogSource,
  MailQuery,
  MailSource,
  WatchHandler,
} from './backend.ts';
export type { DeadLetterLimits } from './dead-letters.ts';
export {
  API_ERRORS,
  ApiError,
  type ApiErrorCode,
  ApiListenError,
  type ApiListenErrorCode,
} from './errors.ts';
export type { LogLimits } from './logs.ts';
export type { MailListLimits } from './mail.ts';
export type { ApiLimits } from './routes.ts';
export { type ApiServer, type ApiServerOptions, startApiServer } from './server.ts';
