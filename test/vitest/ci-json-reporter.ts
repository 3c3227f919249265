import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { JsonReporter, type Reporter, type TestModule } from 'vitest/node';

type UnhandledErrors = Parameters<NonNullable<Reporter['onTestRunEnd']>>[1];

/** What `.ci/run` prints: an error outside any test, or a file that failed without a failed test, is a failure. */
export interface CiTotals {
  passed: number;
  failed: number;
  skipped: number;
  /** Errors Vitest caught outside any test (an unhandled rejection, an 'error' event nobody listened to). */
  unhandledErrors: number;
  /** Files that failed as a whole (an import error, a failing beforeAll, a crashed worker) with no test failed. */
  failedFiles: number;
}

/**
 * Vitest's JSON report with `totals` and `unhandledErrors` added. The JSON reporter alone counts
 * only tests, so a run that Vitest failed for an unhandled error read "1463 passed, 0 failed".
 */
export class CiJsonReporter extends JsonReporter {
  readonly #outputFile: string;

  constructor(options: { outputFile: string }) {
    super(options);
    this.#outputFile = options.outputFile;
  }

  override async onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: UnhandledErrors = []) {
    await super.onTestRunEnd(testModules);
    const file = resolve(this.ctx.config.root, this.#outputFile);
    const report = JSON.parse(await readFile(file, 'utf8'));
    const failedFiles = report.testResults.filter(
      (f: { status: string; assertionResults: { status: string }[] }) =>
        f.status === 'failed' && !f.assertionResults.some((t) => t.status === 'failed'),
    ).length;
    const totals: CiTotals = {
      passed: report.numPassedTests,
      failed: report.numFailedTests + failedFiles + unhandledErrors.length,
      skipped: report.numPendingTests + report.numTodoTests,
      unhandledErrors: unhandledErrors.length,
      failedFiles,
    };
    report.totals = totals;
    // Name and message only: a serialized error carries every property, hidden ones too.
    report.unhandledErrors = unhandledErrors.map((e) => ({ name: e.name, message: e.message }));
    if (totals.failed > 0) report.success = false;
    await writeFile(file, JSON.stringify(report));
  }
}
