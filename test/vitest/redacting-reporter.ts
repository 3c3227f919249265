import type { Reporter, TestModule } from 'vitest/node';
import { redactSecrets } from './redact-secrets.ts';

interface TaskTree {
  result?: { errors?: unknown[] };
  tasks?: TaskTree[];
}

/**
 * Takes credentials out of the errors of a test file (its tests', suites' and hooks') as soon as it
 * ends, before any reporter prints them or writes them to a report: list it first. Unhandled
 * errors go through the config's `onUnhandledError` instead.
 */
export class RedactingReporter implements Reporter {
  onTestModuleEnd(testModule: TestModule): void {
    redactErrorsOf(testModule.task);
  }
}

function redactErrorsOf(task: TaskTree): void {
  redactSecrets(task.result?.errors);
  for (const child of task.tasks ?? []) redactErrorsOf(child);
}
