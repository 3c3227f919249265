import type { RoutingTable, SystemSpec } from '@flotilla/spec';
import type { InstanceStatus } from '../types.ts';
import { buildRoutingTable } from './build-routing-table.ts';

/**
 * The current routing table of a system, rebuilt from instance states and the CA's trust bundle,
 * with listeners for every new revision.
 */
export class Registry {
  readonly #spec: SystemSpec;
  readonly #listeners = new Set<(table: RoutingTable) => void>();
  #table: RoutingTable;
  #instances: readonly InstanceStatus[] = [];
  #trustBundle: readonly string[] = [];
  #certified: ReadonlySet<string> = new Set();

  /**
   * `firstRevision` lets a new control plane continue above the revisions of an earlier run, so a
   * data-plane process that kept an old table never sees the revision go backwards.
   */
  constructor(spec: SystemSpec, firstRevision = 1) {
    this.#spec = spec;
    this.#table = { ...buildRoutingTable(spec, [], undefined), revision: firstRevision };
  }

  /** The current table. */
  table(): RoutingTable {
    return this.#table;
  }

  /** Rebuilds the table from instance states; listeners hear of it only when its content changed. */
  update(instances: readonly InstanceStatus[]): boolean {
    this.#instances = instances;
    return this.#rebuild();
  }

  /** Rebuilds the table with the CA's roots to trust, newest last; listeners hear of it when it changed. */
  setTrustBundle(trustBundle: readonly string[]): boolean {
    this.#trustBundle = [...trustBundle];
    return this.#rebuild();
  }

  /** Rebuilds the table with the instances that hold a workload certificate (they take mutual TLS). */
  setCertified(ids: ReadonlySet<string>): boolean {
    this.#certified = new Set(ids);
    return this.#rebuild();
  }

  #rebuild(): boolean {
    const next = buildRoutingTable(
      this.#spec,
      this.#instances,
      this.#table,
      this.#trustBundle,
      this.#certified,
    );
    if (next === this.#table) return false;
    this.#table = next;
    for (const listener of this.#listeners) listener(next);
    return true;
  }

  /** Calls `listener` with every new table; returns the unsubscribe function. */
  subscribe(listener: (table: RoutingTable) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
