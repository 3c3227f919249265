import type { Logger } from 'pino';
import type { LogStore } from '../logs/index.ts';
import type { PidRecord } from './pid-file.ts';

/** The time source of every decision, injectable so decisions can be tested at chosen times. */
export interface Clock {
  now(): number;
}

/** What an instance needs from the supervisor that runs it. */
export interface InstanceContext {
  logs: LogStore;
  log: Logger;
  clock: Clock;
  /** A free port that no other instance of this supervisor holds. */
  acquirePort(): Promise<number>;
  releasePort(port: number): void;
  /** Records the running process for the reaper of a later run; null once it has exited. */
  recordPid(instance: string, record: PidRecord | null): void;
  /** Something that can change the routing table changed. */
  changed(): void;
}
