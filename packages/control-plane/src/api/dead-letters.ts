import type { DeadLetterList, DeadLetterReplay } from '../types.ts';
import type { DeadLetterSource } from './backend.ts';
import { ApiError } from './errors.ts';

/** Limits of GET /v1/dead-letters. */
export interface DeadLetterLimits {
  /** Dead letters returned when `limit` is absent. */
  defaultDeadLetterLimit: number;
  maxDeadLetterLimit: number;
}

const REPLAY_EXAMPLE = '{"service": "orders", "ids": ["12"]}, or {"service": "orders", "all": true}';
const ID = /^\d{1,19}$/;

/** GET /v1/dead-letters?service=&limit=: the dead letters of one consuming service or of all, oldest first. */
export async function getDeadLetters(
  source: DeadLetterSource | undefined,
  query: URLSearchParams,
  limits: DeadLetterLimits,
): Promise<DeadLetterList> {
  const consumers = withConsumers(source);
  const limitText = query.get('limit');
  // Digits only: Number() would also take "", "1e2" and " 5 ".
  const limit =
    limitText === null
      ? limits.defaultDeadLetterLimit
      : /^\d+$/.test(limitText)
        ? Number(limitText)
        : Number.NaN;
  if (!(limit >= 1 && limit <= limits.maxDeadLetterLimit)) {
    throw new ApiError('BAD_REQUEST', {
      message: `"limit" must be a whole number from 1 to ${limits.maxDeadLetterLimit}.`,
    });
  }
  const service = query.get('service');
  if (service !== null) checkConsumer(consumers, service);
  return { deadLetters: await consumers.list(service ?? undefined, limit) };
}

/**
 * POST /v1/dead-letters/replay: sends the named dead letters of a service, or all of them with
 * `"all": true`, back to their subscriptions. One or the other must be given, so that an empty or
 * half-written request never replays everything.
 */
export async function postDeadLetterReplay(
  source: DeadLetterSource | undefined,
  body: unknown,
): Promise<DeadLetterReplay> {
  const consumers = withConsumers(source);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('BAD_REQUEST', { message: `Expected a JSON object like ${REPLAY_EXAMPLE}.` });
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'service' && key !== 'ids' && key !== 'all') {
      throw new ApiError('BAD_REQUEST', {
        message: `Unknown field "${key}"; expected "service" and "ids" or "all", as in ${REPLAY_EXAMPLE}.`,
      });
    }
  }
  const { service, ids, all } = fields;
  if (typeof service !== 'string') {
    throw new ApiError('BAD_REQUEST', {
      message: `"service" must name the service whose dead letters to replay, as in ${REPLAY_EXAMPLE}.`,
    });
  }
  checkConsumer(consumers, service);
  if (
    ids !== undefined &&
    !(Array.isArray(ids) && ids.every((id) => typeof id === 'string' && ID.test(id)))
  ) {
    throw new ApiError('BAD_REQUEST', {
      message:
        '"ids" must be a list of dead-letter ids, as strings of digits as GET /v1/dead-letters lists them.',
    });
  }
  if (all !== undefined && all !== true) {
    throw new ApiError('BAD_REQUEST', {
      message: '"all" must be true when given; leave it out to name "ids".',
    });
  }
  if (ids !== undefined && all !== undefined) {
    throw new ApiError('BAD_REQUEST', { message: 'Set "ids" or "all", not both.' });
  }
  if (all === undefined && (ids === undefined || ids.length === 0)) {
    throw new ApiError('BAD_REQUEST', {
      message: `Name the dead letters to replay with "ids", or set "all": true for every one of "${service}": ${REPLAY_EXAMPLE}.`,
    });
  }
  const replayed = await consumers.replay(service, all === true ? 'all' : [...new Set(ids as string[])]);
  return { replayed };
}

/** The source, once the bus is up and some service consumes events. */
function withConsumers(source: DeadLetterSource | undefined): DeadLetterSource {
  if (!source) {
    throw new ApiError('UNAVAILABLE', {
      message: 'The control plane is still starting its event bus; try again once it is up.',
    });
  }
  if (source.services.length === 0) {
    throw new ApiError('NOT_FOUND', {
      message:
        'No service of this system subscribes to events (events.subscribes in flotilla.yaml), so there are no dead letters.',
    });
  }
  return source;
}

function checkConsumer(source: DeadLetterSource, service: string): void {
  if (!source.services.includes(service)) {
    throw new ApiError('NOT_FOUND', {
      message: `"${service}" is not a service that subscribes to events, so it has no dead letters (those that do: ${source.services.join(', ')}).`,
    });
  }
}
