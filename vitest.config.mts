import { defineConfig } from 'vitest/config';

// Native addons must not be shared between worker threads: run each test file in a
// forked process so a native fault would fail one file instead of the whole run.
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
