import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RoutingTable } from '@flotilla/spec';
import type { LogLine, MailMessage, MailStatus, ServiceStatus, SystemStatus } from '../types.ts';

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

/** What the admin API asks of the control plane; the API itself holds no state. */
export interface ApiBackend {
  status(): SystemStatus;
  table(): RoutingTable;
  /** Sets the desired replicas of a workload (of one version, or as the supervisor decides without one). */
  scale(service: string, replicas: number, version: string | undefined): Promise<ServiceStatus>;
  logs: LogSource;
  mail: MailSource;
  /** Starts a graceful stop of the whole system; called after the 202 has been sent. */
  shutdown(): void;
}

/** The data-plane watch stream, served by the API after authorization. */
export interface WatchHandler {
  handle(req: IncomingMessage, res: ServerResponse): void;
}
