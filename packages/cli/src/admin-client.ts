import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type {
  CaRotation,
  DeadLetterList,
  DeadLetterReplay,
  LogLine,
  MailList,
  MailMessage,
  SystemStatus,
} from '@flotilla/control-plane/types';
import { CONTROL_PATHS } from '@flotilla/spec';
import { DEFAULTS } from './defaults.ts';
import { AdminApiError, CliError, NotRunningError } from './errors.ts';
import { displayPath } from './spec-file.ts';

/** What a running control plane writes to `<stateDir>/state.json` once it is ready. */
export interface ControlPlaneState {
  pid: number;
  adminUrl: string;
  gatewayUrl: string;
  specFile: string;
  startedAt: string;
}

/** Path of the state file in a state dir. */
export function stateFilePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/** The state file's content, or undefined when there is none (never started, or stopped cleanly). */
export function readState(stateDir: string): ControlPlaneState | undefined {
  const file = stateFilePath(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('FLOTILLA_STATE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    const state = JSON.parse(text) as ControlPlaneState;
    if (Number.isInteger(state.pid) && typeof state.adminUrl === 'string') return state;
  } catch {
    // Reported below with the same message as a well-formed file of the wrong shape.
  }
  throw new CliError('FLOTILLA_STATE_UNREADABLE', `${file} is not a control-plane state file`);
}

/** Whether a process with this pid exists. EPERM means it exists but belongs to someone else. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running control plane of a state dir, or undefined when its state is missing or its pid is dead. */
export function runningState(stateDir: string): ControlPlaneState | undefined {
  const state = readState(stateDir);
  return state && isAlive(state.pid) ? state : undefined;
}

/** Options of a log request; see GET /v1/services/:service/logs. */
export interface LogsQuery {
  instance?: string;
  tail: number;
  follow: boolean;
}

/** Options of a mail listing; see GET /v1/mail. */
export interface MailQuery {
  to?: string;
  limit: number;
}

/** Options of a dead-letter listing; see GET /v1/dead-letters. */
export interface DeadLetterQuery {
  service?: string;
  limit: number;
}

/**
 * The admin API of a running control plane, as every command talks to it: bearer token from
 * `<stateDir>/admin-token`, error bodies turned into AdminApiError, and a refused connection
 * turned into NotRunningError (a control plane that died without removing its state file).
 */
export class AdminClient {
  readonly state: ControlPlaneState;
  readonly #token: string;

  constructor(state: ControlPlaneState, token: string) {
    this.state = state;
    this.#token = token;
  }

  /** Connects to the control plane of a state dir. Throws NotRunningError when there is none. */
  static connect(stateDir: string): AdminClient {
    const state = readState(stateDir);
    if (!state) throw new NotRunningError(`no ${displayPath(stateFilePath(stateDir))}`);
    if (!isAlive(state.pid)) throw new NotRunningError(`control plane pid ${state.pid} is gone`);
    const tokenFile = join(stateDir, 'admin-token');
    let token: string;
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (error) {
      throw new CliError(
        'FLOTILLA_TOKEN_UNREADABLE',
        `cannot read the admin token ${tokenFile}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return new AdminClient(state, token);
  }

  /** GET /v1/status */
  async status(): Promise<SystemStatus> {
    return (await this.#request('GET', CONTROL_PATHS.status)).json() as Promise<SystemStatus>;
  }

  /** POST /v1/services/:service/scale; returns the API's answer. */
  async scale(service: string, replicas: number, version?: string): Promise<unknown> {
    const body = { replicas, ...(version === undefined ? {} : { version }) };
    const response = await this.#request('POST', servicePath(CONTROL_PATHS.scale, service), body);
    return response.json();
  }

  /** GET /v1/services/:service/logs as a stream of lines; ends when the API ends the response. */
  async *logs(service: string, query: LogsQuery): AsyncGenerator<LogLine> {
    const params = new URLSearchParams({ tail: String(query.tail) });
    if (query.instance) params.set('instance', query.instance);
    if (query.follow) params.set('follow', '1');
    const path = `${servicePath(CONTROL_PATHS.logs, service)}?${params}`;
    // A followed stream stays open for as long as the user watches it, so no timeout applies.
    const response = await this.#request('GET', path, undefined, !query.follow);
    if (!response.body) return;
    const lines = createInterface({
      input: Readable.fromWeb(response.body as ReadableStream<Uint8Array>),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const line of lines) {
      if (line.trim() === '') continue;
      yield JSON.parse(line) as LogLine;
    }
  }

  /** GET /v1/mail: what the SMTP sink received, newest first. */
  async mail(query: MailQuery): Promise<MailList> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.to !== undefined) params.set('to', query.to);
    return (await this.#request('GET', `${CONTROL_PATHS.mail}?${params}`)).json() as Promise<MailList>;
  }

  /** GET /v1/mail/:id: one message with its text. */
  async mailMessage(id: string): Promise<MailMessage> {
    const path = CONTROL_PATHS.mailMessage.replace(':id', encodeURIComponent(id));
    return (await this.#request('GET', path)).json() as Promise<MailMessage>;
  }

  /** GET /v1/dead-letters: the events the consuming services gave up on, oldest first. */
  async deadLetters(query: DeadLetterQuery): Promise<DeadLetterList> {
    const params = new URLSearchParams({ limit: String(query.limit) });
    if (query.service !== undefined) params.set('service', query.service);
    const response = await this.#request('GET', `${CONTROL_PATHS.deadLetters}?${params}`);
    return response.json() as Promise<DeadLetterList>;
  }

  /** POST /v1/dead-letters/replay: sends dead letters of a service back to their subscriptions. */
  async replayDeadLetters(service: string, ids: readonly string[] | 'all'): Promise<DeadLetterReplay> {
    const body = ids === 'all' ? { service, all: true } : { service, ids };
    const response = await this.#request('POST', CONTROL_PATHS.deadLettersReplay, body);
    return response.json() as Promise<DeadLetterReplay>;
  }

  /** POST /v1/ca/rotate: a new root for the mesh's CA, trusted beside the old one until every instance renewed. */
  async rotateCa(): Promise<CaRotation> {
    return (await this.#request('POST', CONTROL_PATHS.caRotate)).json() as Promise<CaRotation>;
  }

  /** POST /v1/shutdown: the control plane answers 202 and then stops gracefully. */
  async shutdown(): Promise<void> {
    await (await this.#request('POST', CONTROL_PATHS.shutdown)).body?.cancel();
  }

  async #request(method: string, path: string, body?: unknown, timeout = true): Promise<Response> {
    const url = new URL(path, this.state.adminUrl);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: timeout ? AbortSignal.timeout(DEFAULTS.requestTimeoutMs) : undefined,
      });
    } catch (error) {
      throw connectionError(error, this.state);
    }
    if (!response.ok) throw await apiError(response);
    return response;
  }
}

function servicePath(template: string, service: string): string {
  return template.replace(':service', encodeURIComponent(service));
}

function connectionError(error: unknown, state: ControlPlaneState): Error {
  const cause = (error as { cause?: { code?: string } }).cause;
  if (cause?.code === 'ECONNREFUSED') {
    return new NotRunningError(`nothing listens on ${state.adminUrl}`, { cause: error });
  }
  if ((error as Error).name === 'TimeoutError') {
    return new CliError(
      'FLOTILLA_ADMIN_TIMEOUT',
      `the control plane at ${state.adminUrl} did not answer within ${DEFAULTS.requestTimeoutMs / 1000} s`,
      { cause: error },
    );
  }
  const reason = cause?.code ?? (error as Error).message;
  return new CliError('FLOTILLA_ADMIN_UNREACHABLE', `cannot reach ${state.adminUrl}: ${reason}`, {
    cause: error,
  });
}

async function apiError(response: Response): Promise<AdminApiError> {
  const text = await response.text();
  try {
    const { error } = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (error?.message) return new AdminApiError(response.status, error.code ?? 'UNKNOWN', error.message);
  } catch {
    // Not our error body (a proxy, a crash): fall through to the status line.
  }
  if (response.status === 401 || response.status === 403) {
    return new AdminApiError(
      response.status,
      'UNAUTHORIZED',
      'the control plane rejected the admin token; is .flotilla/admin-token from another run?',
    );
  }
  return new AdminApiError(
    response.status,
    'UNKNOWN',
    `admin API answered ${response.status} ${response.statusText}`,
  );
}
