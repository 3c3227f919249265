export { type LogFilter, type LogSource, LogStore, type LogStoreOptions } from './log-store.ts';
