import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../support/postgres.ts';
import type { CiTotals } from './ci-json-reporter.ts';
import { redactUrls } from './redact-secrets.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const fixtures = join(import.meta.dirname, 'fixtures');

describe('a Vitest run with an unhandled error (fixtures run in a child Vitest)', () => {
  let postgres: TestPostgres;
  let dir: string;
  let password: string;
  let output: string;
  let exitCode: number;
  let report: { success: boolean; totals: CiTotals; unhandledErrors: { message: string }[] };

  beforeAll(async () => {
    postgres = await startTestPostgres();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-ci-reporter-'));
    const url = new URL(postgres.url);
    // A server with trust authentication (DATABASE_URL) ignores a password: give it one to look for.
    if (!url.password) url.password = randomBytes(9).toString('hex');
    password = decodeURIComponent(url.password);
    const reportFile = join(dir, 'report.json');
    const child = await run(
      process.execPath,
      [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(fixtures, 'vitest.config.ts')],
      {
        cwd: fixtures,
        env: {
          ...process.env,
          FIXTURE_DATABASE_URL: url.toString(),
          FIXTURE_REPORT: reportFile,
          NO_COLOR: '1',
        },
        timeout: 120_000,
      },
    ).then(
      (ok) => ({ ...ok, code: 0 }),
      (failed: { stdout: string; stderr: string; code: number }) => failed,
    );
    output = child.stdout + child.stderr;
    exitCode = child.code;
    report = JSON.parse(await readFile(reportFile, 'utf8'));
  }, 180_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await postgres?.stop();
  });

  it('fails, and its totals count the failed test, the unhandled error and the file that failed before its tests', () => {
    expect(output).toContain('terminating connection due to administrator command');
    expect(exitCode).toBe(1);
    expect(report.success).toBe(false);
    expect(report.totals).toEqual({ passed: 2, failed: 3, skipped: 1, unhandledErrors: 1, failedFiles: 1 });
    expect(report.unhandledErrors).toEqual([
      { name: 'error', message: 'terminating connection due to administrator command' },
    ]);
  });

  it('never prints the password of the database whose connection was cut, though pg-pool attaches its client to the error', () => {
    expect(output).toContain("password: '[redacted]'");
    expect(output).not.toContain(password);
  });

  it('prints and reports the errors of a file and of an assertion that showed a URL without its password', () => {
    expect(output).toMatch(/this fixture fails before its tests, on postgres:\/\/[^:]+:\[redacted\]@/);
    expect(output).toMatch(
      /Expected: "postgres:\/\/somewhere-else\/"\s+Received: "postgres:\/\/[^:]+:\[redacted\]@/,
    );
    expect(JSON.stringify(report)).not.toContain(password);
  });
});

describe('redactUrls', () => {
  it.each([
    ['postgres://app:s3cret@127.0.0.1:5432/orders', 'postgres://app:[redacted]@127.0.0.1:5432/orders'],
    ['cannot reach amqp://guest:guest@localhost/ now', 'cannot reach amqp://guest:[redacted]@localhost/ now'],
    ['postgres://app@127.0.0.1/orders', 'postgres://app@127.0.0.1/orders'],
    ['http://127.0.0.1:8080/api', 'http://127.0.0.1:8080/api'],
  ])('turns %s into %s', (text, redacted) => {
    expect(redactUrls(text)).toBe(redacted);
  });
});
