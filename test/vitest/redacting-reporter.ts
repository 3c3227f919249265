import type { Reporter, TestModule } from 'vitest/node';
import { redactSecrets } from './redact-secrets.ts';

/**
 * Takes credentials out of the errors of a test file (its tests', suites' and hooks') as soon as it
 * ends, before any reporter prints them or writes them to a report: list it first. The errors are
 * Vitest's own objects, so redacting them in place redacts them for every reporter. Unhandled
 * errors go through the config's `onUnhandledError` instead.
 */
export class RedactingReporter implements Reporter {
  onTestModuleEnd(testModule: TestModule): void {
    redactSecrets(testModule.errors());
    for (const suite of testModule.children.allSuites()) redactSecrets(suite.errors());
    for (const test of testModule.children.allTests()) redactSecrets(test.result().errors);
  }
}
