/** A plugin config that cannot work. Factories throw it, so a bad config never serves a request. */
export class PluginConfigError extends Error {
  readonly code = 'PLUGIN_CONFIG_INVALID';
  readonly plugin: string;

  constructor(plugin: string, message: string, options?: ErrorOptions) {
    super(`plugin ${plugin}: ${message}`, options);
    this.name = 'PluginConfigError';
    this.plugin = plugin;
  }
}
