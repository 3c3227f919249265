import type { Logger } from 'pino';
import type { LogStore } from '../logs/index.ts';
import type { TokenHolder, Workload } from '../types.ts';
import type { PidRecord } from './pid-file.ts';

/** The time source of every decision, injectable so decisions can be tested at chosen times. */
export interface Clock {
  now(): number;
}

/**
 * Where each process of an instance gets its FLOTILLA_INSTANCE_TOKEN: the secret it proves who it
 * is with, valid from just before it starts until it exits.
 */
export interface InstanceTokens {
  /** A new token for a process about to start as `holder`. */
  issue(holder: TokenHolder): string;
  /** A process adopted from an earlier run holds the token whose SHA-256 is `digest`. */
  adopt(digest: string, holder: TokenHolder): void;
  /** The process that held the token whose SHA-256 is `digest` has exited. */
  revokeDigest(digest: string): void;
}

/** What an instance needs from the supervisor that runs it. */
export interface InstanceContext {
  logs: LogStore;
  log: Logger;
  clock: Clock;
  tokens: InstanceTokens;
  /** A free port that no other instance of this supervisor holds. */
  acquirePort(): Promise<number>;
  releasePort(port: number): void;
  /** Records the running process for a later run to adopt or reap; null once it has exited. */
  recordPid(instance: string, record: PidRecord | null): void;
  /** instanceFingerprint() of a workload's version, as this supervisor starts it. */
  fingerprint(workload: Workload, version: string): string;
  /** Something that can change the routing table changed. */
  changed(): void;
}
