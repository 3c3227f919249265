import { EVENTS_DEFAULTS } from '../defaults.ts';

/** Header that carries a delivery's attempt; a message without it is on its first. */
export const ATTEMPT_HEADER = 'x-flotilla-attempt';

/** The durable topic exchange every event of `system` is published to, with its type as routing key. */
export function exchangeName(system: string): string {
  return `flotilla.${system}.events`;
}

/** The durable queue of one subscription. */
export function queueName(system: string, subscription: string): string {
  return `flotilla.${system}.${subscription}`;
}

/** The delay queue of one subscription and one delay level. */
export function delayQueueName(system: string, subscription: string, levelMs: number): string {
  return `${queueName(system, subscription)}.delay.${levelMs}ms`;
}

/**
 * The delay levels, shortest first. Each delay queue holds messages for exactly its level (a
 * queue-level TTL) and then dead-letters them back to the subscription's queue; one TTL per queue
 * means messages expire in arrival order, so a long delay never holds up a short one behind it.
 */
export const DELAY_LEVELS_MS: readonly number[] = (() => {
  const { delayLevelBaseMs, delayLevelGrowth } = EVENTS_DEFAULTS.rabbitmq;
  const levels: number[] = [];
  for (let ms = delayLevelBaseMs; ; ms *= delayLevelGrowth) {
    levels.push(Math.round(ms));
    if (ms >= EVENTS_DEFAULTS.maxDelayCeilingMs) return levels;
  }
})();

/** The level a delay waits in: the smallest not below it, so a retry is never early; 0 for no delay. */
export function delayLevelMs(delayMs: number): number {
  if (delayMs <= 0) return 0;
  return DELAY_LEVELS_MS.find((level) => level >= delayMs) ?? DELAY_LEVELS_MS[DELAY_LEVELS_MS.length - 1]!;
}
