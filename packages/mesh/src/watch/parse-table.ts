import type { RoutingTable } from '@flotilla/spec';

/**
 * Reads the data of a `table` event. Checks the shape the client relies on (an integer revision,
 * per service a versions map and an endpoint list), not every field: the control plane built the
 * table from a validated spec. Undefined when the data is not such a table.
 */
export function parseTable(data: string): RoutingTable | undefined {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isObject(value) || !Number.isInteger(value.revision) || !isObject(value.services)) return undefined;
  for (const routes of Object.values(value.services)) {
    if (!isObject(routes) || !isObject(routes.versions) || !Array.isArray(routes.endpoints)) return undefined;
  }
  return value as unknown as RoutingTable;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
