/** Exit codes of every `flotilla` command. Scripts rely on them, so they never change meaning. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
} as const;
