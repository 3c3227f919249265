import type { Logger } from '@flotilla/runtime';
import type { GatewaySpec, PluginsConfig } from '@flotilla/spec';
import type { GatewayContext, Plugin, PluginDeps, PluginFactory, PluginReply } from './plugin.ts';
import { PLUGIN_ORDER, type PluginConfigs, type PluginName } from './plugins/index.ts';

/** The plugin factories the gateway builds chains from; `requestId` takes no config and is always on. */
export type PluginRegistry = { readonly [Name in PluginName]: PluginFactory<PluginConfigs[Name]> };

/** A route's plugins in run order, split by hook once so that a request walks only what it must. */
export interface PluginChain {
  readonly onRequest: readonly Plugin[];
  readonly onResponse: readonly Plugin[];
}

/**
 * The plugins of one gateway spec. A route runs the global plugins unless it overrides one: a
 * route value replaces the global config, `false` turns the plugin off. A global plugin is built
 * once and shared by every route that keeps it, so a global rate limit is one budget per client
 * and a JWKS is fetched once; a route override gets an instance of its own.
 */
export class PluginSet {
  /** Chain of each route, by declaration index. */
  readonly chains: readonly PluginChain[];
  /** Chain of requests that match no route: request id only. */
  readonly fallback: PluginChain;
  readonly #all: Plugin[] = [];

  constructor(gateway: GatewaySpec, registry: PluginRegistry, deps: PluginDeps) {
    const global = new Map<string, Plugin>();
    const shared = (name: string, make: () => Plugin): Plugin => {
      let plugin = global.get(name);
      if (plugin === undefined) {
        plugin = this.#track(make());
        global.set(name, plugin);
      }
      return plugin;
    };
    const requestId = (): Plugin => shared('requestId', () => registry.requestId({}, deps));
    try {
      this.fallback = chainOf([requestId()]);
      this.chains = gateway.routes.map((route) => {
        const plugins = [requestId()];
        for (const name of PLUGIN_ORDER) {
          if (name === 'requestId') continue;
          const own = route.plugins[name];
          if (own === false) continue;
          if (own !== undefined) plugins.push(this.#track(build(registry, name, own, deps)));
          else if (gateway.plugins[name] !== undefined) {
            const config = gateway.plugins[name];
            plugins.push(shared(name, () => build(registry, name, config, deps)));
          }
        }
        return chainOf(plugins);
      });
    } catch (err) {
      // A factory refused its config: release what the others already opened.
      void this.close();
      throw err;
    }
  }

  /** Why each plugin that cannot handle requests yet cannot. */
  notReady(): string[] {
    return this.#all.flatMap((plugin) => plugin.notReady?.() ?? []);
  }

  /** Closes every plugin; one failing to close does not keep the others open. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#all.map((plugin) => plugin.close?.()));
  }

  #track(plugin: Plugin): Plugin {
    this.#all.push(plugin);
    return plugin;
  }
}

function build<K extends keyof PluginsConfig>(
  registry: PluginRegistry,
  name: K,
  config: PluginConfigs[K],
  deps: PluginDeps,
): Plugin {
  const factory: PluginFactory<PluginConfigs[K]> = registry[name];
  return factory(config, deps);
}

function chainOf(plugins: Plugin[]): PluginChain {
  return {
    onRequest: plugins.filter((p) => p.onRequest !== undefined),
    onResponse: plugins.filter((p) => p.onResponse !== undefined),
  };
}

/**
 * Runs a chain's onRequest hooks in order, from `from`, until one replies. Synchronous hooks (most
 * of them) cost no promise; the first hook that returns one makes the rest run after it settles.
 */
export function runRequestHooks(
  ctx: GatewayContext,
  chain: PluginChain,
  from = 0,
): PluginReply | undefined | Promise<PluginReply | undefined> {
  const plugins = chain.onRequest;
  for (let i = from; i < plugins.length; i++) {
    const outcome = plugins[i]!.onRequest!(ctx);
    if (outcome === undefined) continue;
    if (outcome instanceof Promise) {
      return outcome.then((reply) => reply ?? runRequestHooks(ctx, chain, i + 1));
    }
    return outcome;
  }
  return undefined;
}

/**
 * Runs a chain's onResponse hooks in order. A hook that throws must not leave the client without
 * an answer: it is logged and skipped.
 */
export function runResponseHooks(
  chain: PluginChain,
  ctx: GatewayContext,
  statusCode: number,
  headers: Record<string, string | string[]>,
  log: Logger,
): void {
  for (const plugin of chain.onResponse) {
    try {
      plugin.onResponse!(ctx, statusCode, headers);
    } catch (err) {
      log.error(
        { err, plugin: plugin.name, request_id: ctx.requestId },
        'a gateway plugin failed on the response',
      );
    }
  }
}
