import type { ReportedEjection } from '../types.ts';
import { ApiError } from './errors.ts';

const EXAMPLE =
  '{"ejected": [{"service": "orders", "endpoint": "orders-v1-2", "until": "2026-01-01T12:00:30.000Z", "ejections": 1}]}';
const FIELDS = ['service', 'endpoint', 'until', 'ejections'] as const;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The ejections of a POST /v1/outliers body: the reporter's whole current list (an empty one when
 * it ejects nothing), each endpoint with its service, the ISO time its ejection ends and how many
 * times in a row it has been ejected.
 */
export function parseOutlierReport(body: unknown): ReportedEjection[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError('BAD_REQUEST', { message: `Expected a JSON object like ${EXAMPLE}.` });
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (key !== 'ejected') {
      throw new ApiError('BAD_REQUEST', {
        message: `Unknown field "${key}"; expected "ejected", as in ${EXAMPLE}.`,
      });
    }
  }
  if (!Array.isArray(fields.ejected)) {
    throw new ApiError('BAD_REQUEST', {
      message: `"ejected" must be the list of every endpoint this process ejects now ([] for none), as in ${EXAMPLE}.`,
    });
  }
  return fields.ejected.map((entry, i) => parseEjection(entry, `ejected[${i}]`));
}

function parseEjection(entry: unknown, at: string): ReportedEjection {
  const bad = (what: string) => new ApiError('BAD_REQUEST', { message: `${at}: ${what}, as in ${EXAMPLE}.` });
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('expected an object');
  const fields = entry as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw bad(`unknown field "${key}"`);
  }
  const { service, endpoint, until, ejections } = fields;
  if (typeof service !== 'string' || service === '') throw bad('"service" must name the endpoint\'s service');
  if (typeof endpoint !== 'string' || endpoint === '')
    throw bad('"endpoint" must be the instance id of the endpoint');
  if (typeof until !== 'string' || !ISO_TIME.test(until) || Number.isNaN(Date.parse(until))) {
    throw bad('"until" must be the ISO time the ejection ends');
  }
  if (typeof ejections !== 'number' || !Number.isInteger(ejections) || ejections < 1) {
    throw bad('"ejections" must be a whole number from 1');
  }
  return { service, endpoint, until: new Date(until).toISOString(), ejections };
}
