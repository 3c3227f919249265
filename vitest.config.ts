import { configDefaults, defineConfig } from 'vitest/config';
import { CiJsonReporter } from './test/vitest/ci-json-reporter.ts';
import { redactSecrets } from './test/vitest/redact-secrets.ts';
import { RedactingReporter } from './test/vitest/redacting-reporter.ts';

const E2E = 'test/e2e/**/*.test.ts';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The redacting reporter first: it takes credentials out of errors before the others see them.
    reporters: [
      new RedactingReporter(),
      'default',
      ...(process.env.CI ? [new CiJsonReporter({ outputFile: 'test-results.json' })] : []),
    ],
    // Still an error (returning nothing keeps it counted), printed without credentials.
    onUnhandledError: (error) => redactSecrets(error),
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'examples/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, E2E],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: [E2E],
          // `flotilla up` of the shop took over 60 s on 2 busy cores: a start-up hook that times out
          // skips the file and leaves a half-started system nobody stops.
          hookTimeout: 180_000,
          // Each file starts whole systems (control plane, PostgreSQL, every service): at most half
          // the cores run them at once, whatever the machine.
          maxWorkers: '50%',
        },
      },
    ],
  },
});
