import { defineConfig } from 'vitest/config';

// The root config does not list services/ yet; this one runs the users tests on their own
// (`npx vitest run --config services/users/vitest.config.ts`) with the root's settings.
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
