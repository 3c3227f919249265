/**
 * Shapes shared by the control plane's parts and its admin API. The admin API returns these as
 * JSON; the CLI reads them.
 */

/** Life of an instance. `unready` instances run but get no traffic; `crashloop` ones wait to restart. */
export type InstanceState =
  | 'starting'
  | 'ready'
  | 'unready'
  | 'crashloop'
  | 'stopping'
  | 'stopped'
  | 'failed';

export interface InstanceStatus {
  id: string;
  service: string;
  version: string;
  pid: number | null;
  /** The instance's own port (health, metrics, and for services their API). */
  port: number;
  state: InstanceState;
  restarts: number;
  /** ISO time the current process started, null when none runs. */
  startedAt: string | null;
  /** ISO time it last became ready, null when not ready. */
  readySince: string | null;
  /** Why the last process ended or was restarted, as a person would say it. */
  lastExit: { code: number | null; signal: string | null; at: string; reason: string } | null;
  /** ISO time of the next restart while in crashloop. */
  nextRestartAt: string | null;
}

/** A unit the supervisor runs: a service of the spec, or the gateway. */
export interface Workload {
  name: string;
  kind: 'service' | 'gateway';
  /** Working directory of its processes. */
  cwd: string;
  versions: Record<string, { replicas: number; entry: string; env: Record<string, string> }>;
  /** Environment for every instance (the instance contract's fixed part, the service's env and secrets). */
  env: Record<string, string>;
  probes: {
    liveness: {
      path: string;
      periodMs: number;
      timeoutMs: number;
      failureThreshold: number;
      initialDelayMs: number;
    };
    readiness: {
      path: string;
      periodMs: number;
      timeoutMs: number;
      failureThreshold: number;
      initialDelayMs: number;
    };
  };
  terminationGracePeriodMs: number;
  startupTimeoutMs: number;
}

/** An instance as GET /v1/status reports it: the supervisor's view and what the data plane says of it. */
export interface InstanceReport extends InstanceStatus {
  /** Set while some process's outlier detection keeps it out of its balancer; null otherwise. */
  ejected: EjectionStatus | null;
}

/** Who ejects an instance as an outlier, and until when. */
export interface EjectionStatus {
  /** Instance ids of the processes that eject it, sorted. */
  by: string[];
  /** ISO time the last of those ejections ends. */
  until: string;
}

export interface ServiceStatus {
  name: string;
  kind: 'service' | 'gateway';
  versions: { name: string; weight: number; replicas: number }[];
  instances: InstanceReport[];
}

/**
 * The process an instance token was given to. Each process of an instance gets its own token in
 * FLOTILLA_INSTANCE_TOKEN, valid while that process runs; with it, the process asks for its
 * certificate and reports outliers, and the control plane knows who is asking.
 */
export interface TokenHolder {
  /** Instance id (`orders-v1-2`). */
  id: string;
  /** Its workload: a service of the spec, or `gateway`. */
  service: string;
  version: string;
}

/** An endpoint a process has ejected from its balancer, as it reports it in POST /v1/outliers. */
export interface ReportedEjection {
  /** The service the endpoint belongs to. */
  service: string;
  /** Instance id of the endpoint (`orders-v1-2`). */
  endpoint: string;
  /** ISO time the ejection ends. */
  until: string;
  /** How many times in a row the reporter has ejected it; each ejection lasts longer. */
  ejections: number;
}

/** POST /v1/certificate: a certificate for the calling instance, and the roots to trust with it. */
export interface CertificateGrant {
  /** PEM of the leaf certificate; its URI SAN names the instance's workload and version. */
  certificate: string;
  /** PEM to present in a TLS handshake: the leaf alone, since every peer has the roots. */
  chain: string;
  /** ISO time the certificate stops being valid. */
  notAfter: string;
  /** PEM roots to trust, oldest first; the last is the root that issues now (see the routing table). */
  trustBundle: string[];
}

/** POST /v1/ca/rotate */
export interface CaRotation {
  /** SHA-256 fingerprint of the new root, as `AB:CD:…`. */
  fingerprint: string;
  /** ISO time the new root stops being valid. */
  notAfter: string;
  /** Roots trusted now: the old one stays until no running instance holds a certificate of it. */
  trustBundleSize: number;
}

/** GET /v1/status */
export interface SystemStatus {
  system: string;
  specFile: string;
  startedAt: string;
  /** Table revision last pushed to the data plane. */
  revision: number;
  controlPlane: { url: string; pid: number };
  gateway: { url: string };
  postgres: {
    mode: 'embedded' | 'external' | 'none';
    host: string | null;
    port: number | null;
    /** The embedded server as the control plane supervises it; absent for an external server, or none. */
    server?: PostgresServerStatus;
  };
  /** Where services' mail goes; null only while the control plane is still starting. */
  mail: MailStatus | null;
  /** The event bus of the services with `events`; null only while the control plane is still starting. */
  bus: BusStatus | null;
  services: ServiceStatus[];
}

/**
 * Life of the embedded PostgreSQL: `running`; `crashloop` after it ended, waiting out the restart
 * backoff (the instances' policy); `restarting` while a new server recovers from the WAL on the
 * same port and data directory; `down` once stopped.
 */
export type PostgresState = 'running' | 'restarting' | 'crashloop' | 'down';

/** The embedded PostgreSQL server, watched and restarted like an instance. */
export interface PostgresServerStatus {
  state: PostgresState;
  /** The postmaster's pid, null when none runs. */
  pid: number | null;
  restarts: number;
  /** Why the last postmaster ended, as a person would say it; null before the first end. */
  lastExit: InstanceStatus['lastExit'];
  /** ISO time of the next restart while in crashloop. */
  nextRestartAt: string | null;
}

/**
 * The event bus: `postgres` (queue tables in a database of the system's PostgreSQL), `rabbitmq`,
 * or `none` when no service has `events`. `address` is `host:port` and never carries credentials.
 */
export interface BusStatus {
  kind: 'postgres' | 'rabbitmq' | 'none';
  address: string | null;
}

/**
 * An event a consuming service gave up on (its handler failed every attempt, or it could not be
 * handled at all), as GET /v1/dead-letters lists it. It stays in the service's own database until
 * it is replayed.
 */
export interface DeadLetterEntry {
  /** The consuming service, in whose database it is kept. */
  service: string;
  /** Its id in that database: a whole number as a string, unique per service only. */
  id: string;
  /** The subscription it was delivered to, where a replay sends it. */
  subscription: string;
  /** The event's id and type, from its envelope; null when what arrived was no envelope. */
  eventId: string | null;
  type: string | null;
  /** The last error, as `Name: message`; may span lines. */
  error: string;
  /** Deliveries it had when it was given up on. */
  attempts: number;
  /** ISO time it was given up on. */
  failedAt: string;
}

/** GET /v1/dead-letters */
export interface DeadLetterList {
  /** Oldest first. */
  deadLetters: DeadLetterEntry[];
}

/** POST /v1/dead-letters/replay */
export interface DeadLetterReplay {
  /** Ids of the dead letters sent back to their subscriptions and deleted; those not found are left out. */
  replayed: string[];
}

/**
 * Where services' mail goes: the built-in SMTP sink or the configured relay. `address` is
 * `host:port` and never carries credentials.
 */
export interface MailStatus {
  mode: 'sink' | 'relay';
  address: string;
}

/** A message the SMTP sink received, as GET /v1/mail lists it and GET /v1/mail/:id returns it. */
export interface MailMessage {
  id: string;
  /** The Message-ID header, angle brackets included; null when the message had none. */
  messageId: string | null;
  /** The From header as written (`"Shop" <shop@example.com>`). */
  from: string;
  /** Addresses of the To header. */
  to: string[];
  /** Addresses of the Cc header. */
  cc: string[];
  /** RCPT TO of the SMTP envelope: every address it was sent to, Bcc included. */
  envelopeTo: string[];
  subject: string;
  /** ISO time it first arrived. */
  receivedAt: string;
  /** Bytes of the raw message. */
  size: number;
  /** How many times it arrived: above 1 when a sender sent the same Message-ID again. */
  receivedCount: number;
  /** The plain-text body (HTML converted when there is no text part), cut at the sink's bound. */
  text: string;
  textTruncated: boolean;
}

/** GET /v1/mail */
export interface MailList {
  mode: MailStatus['mode'];
  address: string;
  /** Newest first. Always empty with a relay, which keeps the mail. */
  messages: MailMessage[];
  /** With a relay: where the mail went instead. */
  message?: string;
}

/** One log line kept by the control plane, as captured from an instance's stdout or stderr. */
export interface LogLine {
  instance: string;
  service: string;
  version: string;
  stream: 'stdout' | 'stderr';
  /** ISO time the control plane received it. */
  at: string;
  line: string;
}
