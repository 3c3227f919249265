import type pg from 'pg';
import type { EventEnvelope } from './envelope.ts';

/**
 * What a consuming service runs for each event of one type. `tx` is the transaction that also
 * records the event in the inbox: writes made with it commit together with that record, or not
 * at all. `data` is not validated; check it as you would a request body.
 */
export type EventHandler<T = unknown> = (event: EventEnvelope<T>, tx: pg.PoolClient) => Promise<void>;
