export { backoffMs } from './backoff.ts';
export {
  CircuitBreaker,
  type CircuitBreakerPolicy,
  type CircuitBreakerVerdict,
} from './circuit-breaker.ts';
export type { Clock } from './clock.ts';
export {
  type Ejection,
  MAX_EJECTION_MS,
  type OutlierDetectionPolicy,
  OutlierDetector,
  type OutlierDetectorOptions,
} from './outlier-detector.ts';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetPolicy } from './retry-budget.ts';
