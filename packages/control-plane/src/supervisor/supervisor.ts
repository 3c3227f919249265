import { closest } from '@flotilla/spec';
import type { Logger } from 'pino';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import type { LogStore } from '../logs/index.ts';
import { pickFreePort } from '../state/free-port.ts';
import { randomToken } from '../state/random-token.ts';
import type { InstanceStatus, Workload } from '../types.ts';
import { SupervisorError } from './errors.ts';
import { ManagedInstance } from './instance.ts';
import type { Clock, InstanceContext, InstanceTokens } from './instance-context.ts';
import { type PidRecord, type PidRecords, writePidFile } from './pid-file.ts';
import { reapLeftovers } from './reap-leftovers.ts';
import { planScale } from './scale-plan.ts';

/** What the supervisor runs and the parts it works with. */
export interface SupervisorOptions {
  /** Every unit to run; the gateway is one too. */
  workloads: Workload[];
  logs: LogStore;
  /** The control plane's own logger. */
  log: Logger;
  /** A free loopback port for a new process. @default bind 127.0.0.1:0, read the port, close */
  allocatePort?: () => Promise<number>;
  /** @default Date */
  clock?: Clock;
  /** Where each process gets its instance token. @default random tokens that nothing checks */
  tokens?: InstanceTokens;
  /** Where `pids.json` is kept for the reaper of a later run; without it nothing is recorded. */
  stateDir?: string;
  /** @default 250 */
  deregistrationDelayMs?: number;
}

/** Attempts at a port no instance holds before a start counts as failed. */
const portAttempts = 10;

/**
 * Runs the desired instances of every workload as child processes and keeps them running: probes
 * them, restarts failed ones with backoff, scales, and stops them gracefully. Each instance leads
 * its own process group, so a terminal's Ctrl-C reaches only the control plane (which then stops
 * instances in order) and instances keep serving if the control plane dies; `pids.json` lets the
 * next run clean those up.
 */
export class Supervisor {
  readonly #workloads = new Map<string, Workload>();
  readonly #desired = new Map<string, Record<string, number>>();
  /** In creation order. An instance leaves this map once its process has exited for good. */
  readonly #instances = new Map<string, ManagedInstance>();
  /** Highest instance number handed out per workload and version; numbers are never reused in a run. */
  readonly #counters = new Map<string, number>();
  readonly #listeners = new Set<() => void>();
  readonly #ports = new Set<number>();
  readonly #pids: PidRecords = {};
  readonly #context: InstanceContext;
  readonly #log: Logger;
  readonly #stateDir: string | undefined;
  readonly #deregistrationDelayMs: number;
  #reaping: Promise<void> | null = null;
  /** Set once leftovers are reaped; until then scale() only records the desired count. */
  #started = false;
  #stopping: Promise<void> | null = null;

  constructor(options: SupervisorOptions) {
    for (const workload of options.workloads) {
      this.#workloads.set(workload.name, workload);
      this.#desired.set(
        workload.name,
        Object.fromEntries(Object.entries(workload.versions).map(([name, v]) => [name, v.replicas])),
      );
    }
    this.#log = options.log;
    this.#stateDir = options.stateDir;
    this.#deregistrationDelayMs = options.deregistrationDelayMs ?? SUPERVISOR_DEFAULTS.deregistrationDelayMs;
    const allocatePort = options.allocatePort ?? (() => pickFreePort(SUPERVISOR_DEFAULTS.host));
    this.#context = {
      logs: options.logs,
      log: options.log,
      clock: options.clock ?? Date,
      tokens: options.tokens ?? { issue: () => randomToken(), revoke: () => {} },
      acquirePort: async () => {
        for (let attempt = 0; attempt < portAttempts; attempt++) {
          const port = await allocatePort();
          if (this.#ports.has(port)) continue;
          this.#ports.add(port);
          return port;
        }
        throw new Error(`no free port after ${portAttempts} attempts`);
      },
      releasePort: (port) => this.#ports.delete(port),
      recordPid: (instance, record) => this.#recordPid(instance, record),
      changed: () => this.#emit(),
    };
  }

  /**
   * Stops what a killed earlier run left behind (from `pids.json` in `stateDir`), then starts every
   * desired instance. Resolves when each is ready or has failed to start; failed ones go on
   * restarting with backoff.
   */
  async start(): Promise<void> {
    this.#assertRunning();
    this.#reaping ??= this.#reapLeftovers();
    await this.#reaping;
    this.#started = true;
    const work: Promise<void>[] = [];
    for (const workload of this.#workloads.values()) {
      for (const version of Object.keys(workload.versions)) work.push(this.#reconcile(workload, version));
    }
    await Promise.all(work);
  }

  /** Every instance that has not yet stopped for good, in creation order. */
  instances(): InstanceStatus[] {
    return [...this.#instances.values()].map((instance) => instance.status());
  }

  /** Desired replicas of each version of `workload`. */
  desiredReplicas(workload: string): Record<string, number> {
    return { ...this.#desired.get(this.#workload(workload).name) };
  }

  /**
   * Sets the desired replicas of one version of `workload`, or of every version when none is
   * named, and brings the instances there: new ones are started, the newest are stopped first.
   * Resolves once new instances are ready (or failed to start) and removed ones have exited.
   */
  async scale(workload: string, replicas: number, version?: string): Promise<void> {
    this.#assertRunning();
    const target = this.#workload(workload);
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new SupervisorError(
        'FLOTILLA_INVALID_REPLICAS',
        `replicas must be a whole number of 0 or more, not ${replicas}`,
      );
    }
    const versions = version === undefined ? Object.keys(target.versions) : [this.#version(target, version)];
    const desired = this.#desired.get(target.name)!;
    for (const name of versions) desired[name] = replicas;
    // Until start() has reaped the previous run, a new process would be recorded in the very
    // pids.json the reaper is working from; start() brings the count in once it is done.
    if (!this.#started) return;
    await Promise.all(versions.map((name) => this.#reconcile(target, name)));
  }

  /** Calls `listener` after every change that can change the routing table; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Stops every instance gracefully, gateways first; resolves once every process has exited. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    const all = [...this.#instances.values()];
    // The edge goes first: while gateways drain their in-flight requests, the services behind
    // them are still there to answer.
    await Promise.all(all.filter((i) => i.workload.kind === 'gateway').map((i) => this.#remove(i)));
    await Promise.all(all.filter((i) => i.workload.kind !== 'gateway').map((i) => this.#remove(i)));
  }

  async #reapLeftovers(): Promise<void> {
    if (this.#stateDir === undefined) return;
    for (const reaped of await reapLeftovers(this.#stateDir)) {
      this.#log.warn(reaped, 'stopped a leftover instance of an earlier run');
    }
  }

  async #reconcile(workload: Workload, version: string): Promise<void> {
    // A stop() that came in while start() was reaping must not be followed by new processes.
    if (this.#stopping !== null) return;
    const current = [...this.#instances.values()].filter(
      (i) => i.workload === workload && i.version === version && !i.leaving,
    );
    const plan = planScale(current, this.#desired.get(workload.name)?.[version] ?? 0);
    const work: Promise<void>[] = [];
    for (let k = 0; k < plan.add; k++) work.push(this.#add(workload, version));
    for (const id of plan.remove) work.push(this.#remove(this.#instances.get(id)!));
    await Promise.all(work);
  }

  #add(workload: Workload, version: string): Promise<void> {
    const key = `${workload.name}\0${version}`;
    const n = (this.#counters.get(key) ?? 0) + 1;
    this.#counters.set(key, n);
    const instance = new ManagedInstance(this.#context, workload, version, n);
    this.#instances.set(instance.id, instance);
    return instance.run();
  }

  async #remove(instance: ManagedInstance): Promise<void> {
    await instance.stop(this.#deregistrationDelayMs);
    if (this.#instances.delete(instance.id)) this.#emit();
  }

  #recordPid(instance: string, record: PidRecord | null): void {
    if (this.#stateDir === undefined) return;
    if (record === null) delete this.#pids[instance];
    else this.#pids[instance] = record;
    try {
      writePidFile(this.#stateDir, this.#pids);
    } catch (error) {
      this.#log.error(
        { err: error },
        'could not write pids.json; a killed control plane may leave instances behind',
      );
    }
  }

  #emit(): void {
    for (const listener of this.#listeners) {
      try {
        listener();
      } catch (error) {
        this.#log.error({ err: error }, 'a supervisor change listener failed');
      }
    }
  }

  #workload(name: string): Workload {
    const workload = this.#workloads.get(name);
    if (workload !== undefined) return workload;
    const guess = closest(name, this.#workloads.keys());
    throw new SupervisorError(
      'FLOTILLA_UNKNOWN_WORKLOAD',
      `no workload named "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}; known workloads: ${[...this.#workloads.keys()].join(', ')}`,
    );
  }

  #version(workload: Workload, version: string): string {
    if (Object.hasOwn(workload.versions, version)) return version;
    throw new SupervisorError(
      'FLOTILLA_UNKNOWN_VERSION',
      `workload "${workload.name}" has no version "${version}"; it has ${Object.keys(workload.versions).join(', ')}`,
    );
  }

  #assertRunning(): void {
    if (this.#stopping !== null) {
      throw new SupervisorError(
        'FLOTILLA_SUPERVISOR_STOPPED',
        'the supervisor has been stopped; start a new one',
      );
    }
  }
}
