import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SUPERVISOR_DEFAULTS } from '../defaults.ts';
import { startProber } from '../probes/index.ts';
import { tokenDigest } from '../state/index.ts';
import type { InstanceState, InstanceStatus, Workload } from '../types.ts';
import { childEnv } from './child-env.ts';
import {
  describeExit,
  livenessFailedReason,
  spawnFailedReason,
  startupTimeoutReason,
} from './exit-reason.ts';
import type { InstanceContext } from './instance-context.ts';
import { signalGroup } from './process-group.ts';
import { restartDelayMs, standingFailures } from './restart-policy.ts';
import { watchPid } from './watch-pid.ts';

type LastExit = NonNullable<InstanceStatus['lastExit']>;

/**
 * One instance over its whole life: its process, started again under the same id after every
 * failure, its probes, and its graceful stop. All restarts of an instance are this one object.
 */
export class ManagedInstance {
  readonly id: string;
  readonly workload: Workload;
  readonly version: string;
  /** Its number among the instances of its workload and version; higher is newer. */
  readonly n: number;
  readonly #context: InstanceContext;
  readonly #entry: string;
  readonly #settled = Promise.withResolvers<void>();

  #state: InstanceState = 'starting';
  #restarts = 0;
  #failures = 0;
  #port = 0;
  /** The current process: a child this supervisor spawned, or one adopted from an earlier run. */
  #process: { readonly pid?: number | undefined } | null = null;
  /** Stops watching an adopted process by its pid (a child reports its own exit). */
  #unwatchPid: (() => void) | null = null;
  /** The SHA-256 of the current process's instance token; the token is revoked when it exits. */
  #tokenDigest: string | null = null;
  #exited = Promise.withResolvers<void>();
  #startedAtMs: number | null = null;
  #readySinceMs: number | null = null;
  #lastExit: LastExit | null = null;
  #nextRestartAtMs: number | null = null;
  /** Why we are killing the current process, reported instead of the bare signal it dies of. */
  #killReason: string | null = null;
  /** Set once the instance is being stopped for good: nothing restarts it after that. */
  #leaving = false;
  #stopping: Promise<void> | null = null;
  #stopProbes: (() => void)[] = [];
  #startupTimer: NodeJS.Timeout | undefined;
  /** What the current process's last failed readiness probe saw, for the start-up timeout's reason. */
  #lastReadinessDetail: string | null = null;
  #restartTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  /** Whether the SIGKILL that ends the current process, if any, was ours. */
  #sentSigkill = false;

  constructor(context: InstanceContext, workload: Workload, version: string, n: number) {
    const spec = workload.versions[version];
    if (spec === undefined) throw new RangeError(`workload ${workload.name} has no version ${version}`);
    this.#context = context;
    this.workload = workload;
    this.version = version;
    this.n = n;
    this.id = `${workload.name}-${version}-${n}`;
    this.#entry = resolve(workload.cwd, spec.entry);
  }

  /** Whether it is being stopped for good, and so no longer counts toward the desired replicas. */
  get leaving(): boolean {
    return this.#leaving;
  }

  /** Starts the first process. Resolves once the instance is first ready, or has failed to start. */
  run(): Promise<void> {
    void this.#launch();
    return this.#settled.promise;
  }

  /** A snapshot for the registry and the admin API. */
  status(): InstanceStatus {
    return {
      id: this.id,
      service: this.workload.name,
      version: this.version,
      pid: this.#process?.pid ?? null,
      port: this.#port,
      state: this.#state,
      restarts: this.#restarts,
      startedAt: isoOrNull(this.#startedAtMs),
      readySince: isoOrNull(this.#readySinceMs),
      lastExit: this.#lastExit,
      nextRestartAt: isoOrNull(this.#nextRestartAtMs),
    };
  }

  /**
   * Stops it for good. The instance turns `stopping` and the change is announced first, so the
   * registry drops it; a routable instance then gets `deregistrationDelayMs` for the data plane to
   * stop sending before SIGTERM, and SIGKILL follows after the grace period. Resolves once the
   * process has exited.
   */
  stop(deregistrationDelayMs: number): Promise<void> {
    this.#leaving = true;
    this.#stopping ??= this.#stopForGood(deregistrationDelayMs);
    return this.#stopping;
  }

  async #stopForGood(deregistrationDelayMs: number): Promise<void> {
    clearTimeout(this.#restartTimer);
    this.#nextRestartAtMs = null;
    this.#settled.resolve();
    if (this.#process === null) {
      this.#state = 'stopped';
      this.#context.changed();
      return;
    }
    const exited = this.#exited.promise;
    const routable = this.#state === 'ready';
    const terminating = this.#state === 'stopping';
    this.#halt();
    this.#state = 'stopping';
    this.#readySinceMs = null;
    this.#context.changed();
    if (!terminating) {
      if (routable) await sleep(deregistrationDelayMs);
      this.#terminate();
    }
    await exited;
  }

  /**
   * Takes over a process an earlier control plane started for this instance and left running: it
   * is not a child, so its exit is noticed by polling its pid, and its output (a pipe to the dead
   * control plane) is not captured. It keeps its port and its instance token (known here by the
   * digest the earlier run recorded); probes go on as for any instance, and when it ends it is
   * restarted as a child like any other.
   */
  adopt(adopted: { pid: number; port: number; tokenDigest: string; ready: boolean }): void {
    const now = this.#context.clock.now();
    const current = { pid: adopted.pid };
    this.#process = current;
    this.#exited = Promise.withResolvers();
    this.#port = adopted.port;
    this.#tokenDigest = adopted.tokenDigest;
    this.#context.tokens.adopt(adopted.tokenDigest, {
      id: this.id,
      service: this.workload.name,
      version: this.version,
    });
    this.#record(adopted.pid);
    this.#state = adopted.ready ? 'ready' : 'unready';
    this.#startedAtMs = now;
    this.#readySinceMs = adopted.ready ? now : null;
    this.#unwatchPid = watchPid(adopted.pid, SUPERVISOR_DEFAULTS.adoptedPidPollMs, () =>
      this.#onExit(current, null, null, 'the adopted process ended'),
    );
    this.#stopProbes.push(
      startProber({
        host: SUPERVISOR_DEFAULTS.host,
        port: adopted.port,
        probe: this.workload.probes.readiness,
        onPass: () => this.#onReadinessPass(),
        onFail: () => this.#onReadinessFail(),
      }),
      startProber({
        host: SUPERVISOR_DEFAULTS.host,
        port: adopted.port,
        probe: this.workload.probes.liveness,
        onPass: () => {},
        onFail: (failures, detail) => this.#kill(livenessFailedReason(failures, detail)),
      }),
    );
    this.#settled.resolve();
    this.#context.log.info({ instance: this.id, pid: adopted.pid, port: adopted.port }, 'instance adopted');
    this.#context.changed();
  }

  /**
   * SIGKILLs the current process's group at once, for a control plane that must exit now (a second
   * Ctrl-C): nothing it started may outlive it then. Synchronous, so it can run in an 'exit' handler.
   */
  forceKill(): void {
    const pid = this.#process?.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }

  /** Records the current process in `pids.json`, with what a later run needs to adopt it. */
  #record(pid: number): void {
    this.#context.recordPid(this.id, {
      pid,
      entry: this.#entry,
      workload: this.workload.name,
      version: this.version,
      n: this.n,
      port: this.#port,
      fingerprint: this.#context.fingerprint(this.workload, this.version),
      tokenDigest: this.#tokenDigest ?? '',
    });
  }

  async #launch(): Promise<void> {
    let port: number;
    try {
      port = await this.#context.acquirePort();
    } catch (error) {
      this.#ended({ code: null, signal: null, reason: spawnFailedReason(error as Error) });
      return;
    }
    if (this.#leaving) {
      this.#context.releasePort(port);
      return;
    }
    this.#port = port;
    const token = this.#context.tokens.issue({
      id: this.id,
      service: this.workload.name,
      version: this.version,
    });
    this.#tokenDigest = tokenDigest(token);
    const child = spawn(process.execPath, [this.#entry], {
      cwd: this.workload.cwd,
      env: childEnv(
        { workload: this.workload, version: this.version, instance: this.id, port, token },
        process.env,
      ),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#process = child;
    this.#exited = Promise.withResolvers();
    child.once('exit', (code, signal) => this.#onExit(child, code, signal));
    child.once('error', (error) => {
      if (child.pid === undefined) this.#onExit(child, null, null, spawnFailedReason(error));
    });
    const pid = child.pid;
    if (pid === undefined) return;

    const source = { instance: this.id, service: this.workload.name, version: this.version };
    this.#context.logs.capture(source, 'stdout', child.stdout!);
    this.#context.logs.capture(source, 'stderr', child.stderr!);
    this.#record(pid);
    this.#state = 'starting';
    this.#startedAtMs = this.#context.clock.now();
    this.#nextRestartAtMs = null;
    this.#context.log.info({ instance: this.id, pid, port }, 'instance started');
    this.#context.changed();

    const { startupTimeoutMs, probes } = this.workload;
    this.#lastReadinessDetail = null;
    this.#startupTimer = setTimeout(
      () => this.#kill(startupTimeoutReason(startupTimeoutMs, this.#lastReadinessDetail)),
      startupTimeoutMs,
    );
    this.#stopProbes.push(
      startProber({
        host: SUPERVISOR_DEFAULTS.host,
        port,
        probe: probes.readiness,
        startupPeriodMs: SUPERVISOR_DEFAULTS.startupProbePeriodMs,
        onPass: () => this.#onReadinessPass(),
        onFail: (_failures, detail) => {
          this.#lastReadinessDetail = detail;
          this.#onReadinessFail();
        },
      }),
    );
  }

  #onReadinessPass(): void {
    const now = this.#context.clock.now();
    if (this.#state === 'ready') {
      this.#failures = standingFailures(this.#failures, this.#readySinceMs, now, SUPERVISOR_DEFAULTS.restart);
      return;
    }
    if (this.#state !== 'starting' && this.#state !== 'unready') return;
    const first = this.#state === 'starting';
    this.#state = 'ready';
    this.#readySinceMs = now;
    if (first) {
      clearTimeout(this.#startupTimer);
      // Liveness is probed only once the process has come up: a slow start is the startup
      // timeout's business, and killing it for that early would only make it slower.
      this.#stopProbes.push(
        startProber({
          host: SUPERVISOR_DEFAULTS.host,
          port: this.#port,
          probe: this.workload.probes.liveness,
          onPass: () => {},
          onFail: (failures, detail) => this.#kill(livenessFailedReason(failures, detail)),
        }),
      );
      this.#settled.resolve();
    }
    this.#context.log.info({ instance: this.id }, 'instance ready');
    this.#context.changed();
  }

  #onReadinessFail(): void {
    if (this.#state !== 'ready') return;
    this.#state = 'unready';
    this.#readySinceMs = null;
    this.#context.log.warn({ instance: this.id }, 'instance unready');
    this.#context.changed();
  }

  /** Kills the current process so that it restarts, with `reason` as the cause people will see. */
  #kill(reason: string): void {
    if (this.#process === null || this.#state === 'stopping') return;
    this.#killReason = reason;
    this.#halt();
    this.#state = 'stopping';
    this.#readySinceMs = null;
    this.#context.log.warn({ instance: this.id, reason }, 'killing instance to restart it');
    this.#context.changed();
    this.#terminate();
  }

  /** SIGTERM now, SIGKILL when the grace period runs out. */
  #terminate(): void {
    const pid = this.#process?.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    this.#killTimer ??= setTimeout(() => {
      this.#sentSigkill = true;
      signalGroup(pid, 'SIGKILL');
    }, this.workload.terminationGracePeriodMs);
  }

  /** Stops probing and the startup clock; the process itself is left alone. */
  #halt(): void {
    for (const stop of this.#stopProbes) stop();
    this.#stopProbes = [];
    clearTimeout(this.#startupTimer);
  }

  #onExit(
    ended: { readonly pid?: number | undefined },
    code: number | null,
    signal: string | null,
    reason?: string,
  ): void {
    if (ended !== this.#process) return;
    this.#process = null;
    this.#unwatchPid?.();
    this.#unwatchPid = null;
    this.#halt();
    clearTimeout(this.#killTimer);
    this.#killTimer = undefined;
    if (ended.pid !== undefined) {
      // Whatever the process started and left behind in its group goes with it, so that a
      // restart finds its port free and a stop leaves nothing running.
      signalGroup(ended.pid, 'SIGKILL');
      this.#context.recordPid(this.id, null);
    }
    this.#context.releasePort(this.#port);
    if (this.#tokenDigest !== null) this.#context.tokens.revokeDigest(this.#tokenDigest);
    this.#tokenDigest = null;
    // A SIGKILL we did not send came from outside (a person, the OOM killer) before our own kill
    // could act; that, not our reason, is what ended the process.
    const ours = this.#killReason !== null && (signal !== 'SIGKILL' || this.#sentSigkill);
    this.#ended({
      code,
      signal,
      reason: reason ?? (ours ? this.#killReason : null) ?? describeExit(code, signal),
    });
    this.#killReason = null;
    this.#sentSigkill = false;
    this.#exited.resolve();
  }

  /** Records how the process ended, then either rests (stopping for good) or schedules the restart. */
  #ended(exit: Omit<LastExit, 'at'>): void {
    const now = this.#context.clock.now();
    const readySinceMs = this.#readySinceMs;
    this.#lastExit = { ...exit, at: new Date(now).toISOString() };
    this.#startedAtMs = null;
    this.#readySinceMs = null;
    if (this.#leaving) {
      this.#state = 'stopped';
      this.#context.log.info({ instance: this.id, reason: exit.reason }, 'instance stopped');
      this.#context.changed();
      return;
    }
    const policy = SUPERVISOR_DEFAULTS.restart;
    this.#failures = standingFailures(this.#failures, readySinceMs, now, policy) + 1;
    const delayMs = restartDelayMs(this.#failures, policy);
    this.#state = 'crashloop';
    this.#nextRestartAtMs = now + delayMs;
    this.#context.log.warn({ instance: this.id, reason: exit.reason, delayMs }, 'instance ended; restarting');
    this.#context.changed();
    this.#settled.resolve();
    this.#restartTimer = setTimeout(() => {
      this.#restarts++;
      void this.#launch();
    }, delayMs);
  }
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
