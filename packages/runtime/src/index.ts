export type { EventEnvelope, EventHandler, EventsOptions, RetryPolicy } from '@flotilla/events';
export { EventsError, type EventsErrorCode } from '@flotilla/events';
export type { MeshClient, MeshRequest, MeshResponse } from '@flotilla/mesh';
export { ENV } from '@flotilla/spec';
export type { Pool as DatabasePool, PoolClient as DatabaseClient } from 'pg';
export type { Logger } from 'pino';
export type { BackgroundTask } from './background.ts';
export { config, secret } from './config.ts';
export type {
  BodyOf,
  Caller,
  Handler,
  QueryOf,
  RequestContext,
  RouteOptions,
  RouteParams,
} from './context.ts';
export { RUNTIME_DEFAULTS } from './defaults.ts';
export {
  HTTP_ERRORS,
  HttpError,
  type HttpErrorCode,
  type HttpErrorOptions,
  RuntimeError,
  type RuntimeErrorCode,
} from './errors.ts';
export type { PublishOptions, ServiceEvents } from './events.ts';
export { FAILPOINTS_DIR_ENV, failpoint } from './failpoint.ts';
export { createLogger } from './logger.ts';
export {
  Counter,
  type CounterSeries,
  collectProcessMetrics,
  Gauge,
  Histogram,
  type HistogramOptions,
  type HistogramSeries,
  ISTIO_DURATION_BUCKETS_MS,
  ISTIO_LABEL_NAMES,
  ISTIO_UNKNOWN,
  type IstioLabel,
  type IstioLabels,
  IstioRequestMetrics,
  type IstioSeries,
  istioWorkload,
  type LabelValues,
  METRICS_CONTENT_TYPE,
  type MetricOptions,
  Registry,
} from './metrics/index.ts';
export { migrate } from './migrations.ts';
export { Reply, reply } from './reply.ts';
export { createService, type RouteMethod, type Service, type ServiceOptions } from './service.ts';
export type { IsolationLevel, TransactionOptions } from './transaction.ts';
export type { FieldIssue, InferOutput, StandardSchema } from './validation.ts';
