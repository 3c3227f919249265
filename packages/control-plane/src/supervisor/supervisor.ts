import { closest } from '@flotilla/spec';
import type { Logger } from 'pino';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import type { LogStore } from '../logs/index.ts';
import { httpProbe } from '../probes/index.ts';
import { pickFreePort } from '../state/free-port.ts';
import { randomToken } from '../state/random-token.ts';
import type { InstanceStatus, Workload } from '../types.ts';
import { SupervisorError } from './errors.ts';
import { ManagedInstance } from './instance.ts';
import type { Clock, InstanceContext, InstanceTokens } from './instance-context.ts';
import { type AdoptionDecision, decideAdoption } from './adoption-decision.ts';
import { instanceFingerprint } from './fingerprint.ts';
import { type PidRecord, type PidRecords, readPidFile, writePidFile } from './pid-file.ts';
import { isRunning } from './process-group.ts';
import { isLeftover, reapLeftovers } from './reap-leftovers.ts';
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
  /**
   * Where `pids.json` is kept, for a later run to adopt or reap what this one leaves running;
   * without it nothing is recorded and nothing is adopted.
   */
  stateDir?: string;
  /** @default 250 */
  deregistrationDelayMs?: number;
}

/** What adopt() did with each process an earlier run left: adopted by instance id, or replaced and why. */
export interface AdoptionReport {
  adopted: string[];
  replaced: { instance: string; reason: string }[];
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
  #adopting: Promise<AdoptionReport> | null = null;
  readonly #fingerprints = new Map<string, string>();
  /** Set once leftovers are adopted or reaped; until then scale() only records the desired count. */
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
      tokens: options.tokens ?? { issue: () => randomToken(), adopt: () => {}, revokeDigest: () => {} },
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
      fingerprint: (workload, version) => this.#fingerprint(workload, version),
      changed: () => this.#emit(),
    };
  }

  /**
   * Adopts what a killed earlier run left running (from `pids.json` in `stateDir`) where it runs,
   * is what the spec starts now and is alive (decideAdoption), and stops the rest of it, with its
   * process groups. Adopted instances are in instances() once this resolves; nothing new is started.
   * start() does this first; calling it before lets the caller publish the adopted instances before
   * anything else happens. Runs once.
   */
  adopt(): Promise<AdoptionReport> {
    this.#assertRunning();
    this.#adopting ??= this.#adoptLeftovers();
    return this.#adopting;
  }

  /**
   * Adopts or stops what an earlier run left (adopt()), then starts every desired instance that is
   * missing. Resolves when each is ready or has failed to start; failed ones go on restarting with
   * backoff.
   */
  async start(): Promise<void> {
    await this.adopt();
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
    // Until start() has adopted or reaped the previous run, a new process would be recorded in the
    // very pids.json that step is working from; start() brings the count in once it is done.
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

  /**
   * SIGKILLs the process group of every instance at once, children and adopted alike, for a control
   * plane that must exit now. Synchronous, so that it can run in an 'exit' handler.
   */
  forceKill(): void {
    for (const instance of this.#instances.values()) instance.forceKill();
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

  async #adoptLeftovers(): Promise<AdoptionReport> {
    const report: AdoptionReport = { adopted: [], replaced: [] };
    if (this.#stateDir === undefined) return report;
    const records = readPidFile(this.#stateDir);
    const verdicts = await Promise.all(
      Object.entries(records).map(async ([id, record]) => ({ id, record, ...(await this.#judge(record)) })),
    );
    const replaced: PidRecords = {};
    for (const { id, record, decision } of verdicts) {
      if (decision.action === 'adopt') continue;
      if (decision.action === 'replace') {
        replaced[id] = record;
        report.replaced.push({ instance: id, reason: decision.reason });
      }
      this.#log.warn({ instance: id, pid: record.pid, reason: decision.reason }, `not adopting ${id}`);
    }
    // What is replaced is stopped before anything new starts, so that its port and its share of the
    // gateway's port are free again; and before the first adoption rewrites pids.json, so that a
    // control plane killed meanwhile leaves it on record for the next one.
    for (const reaped of await reapLeftovers(replaced)) {
      this.#log.warn(reaped, 'stopped a process of an earlier run instead of adopting it');
    }
    for (const { record, decision, ready } of verdicts) {
      if (decision.action !== 'adopt') continue;
      const workload = this.#workloads.get(record.workload!)!;
      const n = record.n!;
      const key = `${workload.name}\0${record.version!}`;
      this.#counters.set(key, Math.max(this.#counters.get(key) ?? 0, n));
      this.#ports.add(record.port!);
      const instance = new ManagedInstance(this.#context, workload, record.version!, n);
      this.#instances.set(instance.id, instance);
      instance.adopt({ pid: record.pid, port: record.port!, tokenDigest: record.tokenDigest!, ready });
      report.adopted.push(instance.id);
    }
    // Only what runs now stays on record (adoptions recorded themselves; this covers none at all).
    writePidFile(this.#stateDir, this.#pids);
    return report;
  }

  /** Looks at one recorded process and decides whether to adopt it; `ready` is its readiness probe. */
  async #judge(record: PidRecord): Promise<{ decision: AdoptionDecision; ready: boolean }> {
    const running = isRunning(record.pid);
    const found = !running ? 'gone' : isLeftover(record) ? 'running' : 'other-program';
    const workload = record.workload === undefined ? undefined : this.#workloads.get(record.workload);
    const hasVersion = workload !== undefined && Object.hasOwn(workload.versions, record.version ?? '');
    const complete =
      record.port !== undefined && record.tokenDigest !== undefined && Number.isInteger(record.n);
    const probe = (which: 'liveness' | 'readiness') =>
      found === 'running' && complete && workload !== undefined
        ? httpProbe({
            host: SUPERVISOR_DEFAULTS.host,
            port: record.port!,
            path: workload.probes[which].path,
            timeoutMs: workload.probes[which].timeoutMs,
          })
        : Promise.resolve(undefined);
    const [liveness, readiness] = await Promise.all([probe('liveness'), probe('readiness')]);
    const decision = decideAdoption({
      process: found,
      recordedFingerprint: record.fingerprint,
      expectedFingerprint: hasVersion ? this.#fingerprint(workload, record.version!) : undefined,
      complete,
      liveness,
    });
    return { decision, ready: readiness?.ok ?? false };
  }

  #fingerprint(workload: Workload, version: string): string {
    const key = `${workload.name}\0${version}`;
    let fingerprint = this.#fingerprints.get(key);
    if (fingerprint === undefined) {
      fingerprint = instanceFingerprint(workload, version, process.env);
      this.#fingerprints.set(key, fingerprint);
    }
    return fingerprint;
  }

  async #reconcile(workload: Workload, version: string): Promise<void> {
    // A stop() that came in while start() was adopting must not be followed by new processes.
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
