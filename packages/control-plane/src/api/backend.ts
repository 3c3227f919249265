import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RoutingTable } from '@flotilla/spec';
import type {
  CaRotation,
  CertificateGrant,
  DeadLetterEntry,
  LogLine,
  MailMessage,
  MailStatus,
  ReportedEjection,
  ServiceStatus,
  SystemStatus,
  TokenHolder,
} from '../types.ts';

/** Which log lines a reader wants. */
export interface LogFilter {
  workload?: string;
  instance?: string;
}

/** The part of the log store the API reads. */
export interface LogSource {
  tail(filter: LogFilter, n: number): LogLine[];
  subscribe(filter: LogFilter, listener: (line: LogLine) => void): () => void;
}

/** Which messages a reader wants: those to one address (any recipient, any case), at most `limit`. */
export interface MailQuery {
  to?: string;
  limit: number;
}

/** Where services' mail goes, and with the sink, what it received. A relay keeps no messages here. */
export interface MailSource extends MailStatus {
  /** Newest first. */
  list(query: MailQuery): MailMessage[];
  get(id: string): MailMessage | undefined;
}

/**
 * The dead letters of the services that consume events, each kept in its own database. Failures
 * reject with an ApiError that says what to do.
 */
export interface DeadLetterSource {
  /** Services that subscribe to events, whose databases hold dead letters; empty when none does. */
  readonly services: readonly string[];
  /** Oldest first: of one service, or of every consuming service, at most `limit`. */
  list(service: string | undefined, limit: number): Promise<DeadLetterEntry[]>;
  /** Sends dead letters of `service` back to their subscriptions and deletes them; returns the ids replayed. */
  replay(service: string, ids: readonly string[] | 'all'): Promise<string[]>;
}

/** What the admin API asks of the control plane; the API itself holds no state. */
export interface ApiBackend {
  status(): SystemStatus;
  table(): RoutingTable;
  /** Sets the desired replicas of a workload (of one version, or as the supervisor decides without one). */
  scale(service: string, replicas: number, version: string | undefined): Promise<ServiceStatus>;
  logs: LogSource;
  mail: MailSource;
  /** Undefined until the bus step of start-up has run. */
  deadLetters(): DeadLetterSource | undefined;
  /** Starts a graceful stop of the whole system; called after the 202 has been sent. */
  shutdown(): void;
  /**
   * A certificate for the instance that asked, naming its own workload and version, with the roots
   * to trust. Rejects with an ApiError for a key the CA does not issue for, or when there is no CA.
   */
  certificate(holder: TokenHolder, publicKeyPem: string): Promise<CertificateGrant>;
  /** Replaces what `holder` reported before with its whole current list of ejected endpoints. */
  reportOutliers(holder: TokenHolder, ejected: ReportedEjection[]): void;
  /** Starts a rotation of the CA's root; rejects with an ApiError when there is no CA. */
  rotateCa(): Promise<CaRotation>;
}

/** The data-plane watch stream, served by the API after authorization. */
export interface WatchHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
}
