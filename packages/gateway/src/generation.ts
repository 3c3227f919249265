import type { GatewaySpec, RouteSpec } from '@flotilla/spec';
import type { PluginDeps } from './plugin.ts';
import { type PluginChain, type PluginRegistry, PluginSet } from './plugin-chain.ts';
import { Router } from './router.ts';
import { type UpstreamPath, upstreamPath } from './upstream-path.ts';

/** A route with everything a request needs, computed once per gateway spec. */
export interface CompiledRoute {
  readonly spec: RouteSpec;
  /** How logs name the route: its name, else its host and prefix. */
  readonly label: string;
  readonly upstreamPath: UpstreamPath;
  readonly chain: PluginChain;
}

/**
 * Everything compiled from one gateway spec: the router and the plugins. A new spec makes a new
 * generation; the old one is retired and its plugins are closed once the requests that started
 * on it have finished, so a table update never pulls a plugin from under a running request.
 */
export class Generation {
  /** The routes and plugins this generation was built from, serialized: equal keys need no rebuild. */
  readonly key: string;
  readonly router: Router<CompiledRoute>;
  readonly fallback: PluginChain;
  readonly #plugins: PluginSet;
  #inFlight = 0;
  #retired: (() => void) | undefined;

  constructor(gateway: GatewaySpec, key: string, registry: PluginRegistry, deps: PluginDeps) {
    this.key = key;
    this.#plugins = new PluginSet(gateway, registry, deps);
    this.fallback = this.#plugins.fallback;
    this.router = new Router(
      gateway.routes.map((spec, i) => ({
        spec,
        value: {
          spec,
          label: spec.name ?? `${spec.match.host ?? ''}${spec.match.pathPrefix}`,
          upstreamPath: upstreamPath(spec),
          chain: this.#plugins.chains[i]!,
        },
      })),
    );
  }

  /** Why its plugins cannot handle requests yet; empty when they can. */
  notReady(): string[] {
    return this.#plugins.notReady();
  }

  /** Counts a request that started on this generation. */
  enter(): void {
    this.#inFlight++;
  }

  /** Counts a request that finished; the last one out of a retired generation closes its plugins. */
  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0) this.#retired?.();
  }

  /** Stops new use; resolves once in-flight requests are done and the plugins are closed. */
  retire(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#retired = () => {
        this.#retired = undefined;
        this.#plugins.close().then(resolve);
      };
      if (this.#inFlight === 0) this.#retired();
    });
  }
}
