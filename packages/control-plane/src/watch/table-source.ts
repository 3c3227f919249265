import type { RoutingTable } from '@flotilla/spec';

/** Where the watch stream gets tables from: the registry, seen only through this. */
export interface TableSource {
  table(): RoutingTable;
  subscribe(listener: (table: RoutingTable) => void): () => void;
}
