import { defineConfig } from 'vitest/config';
import root from '../../vitest.config.ts';

// The repository's config does not list services/ yet; this runs this service's tests with its settings.
export default defineConfig({ ...root, test: { ...root.test, include: ['services/payments/**/*.test.ts'] } });
