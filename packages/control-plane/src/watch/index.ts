export type { TableSource } from './table-source.ts';
export { WatchStream, type WatchStreamOptions } from './watch-stream.ts';
export { WatchGate } from './watch-gate.ts';
