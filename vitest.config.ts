import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// The emulator package is tested from its sources, as `tsc` checks them (its `payfold-source`
// export condition); the compiled `payfold` processes the tests start load its build.
const conditions = ['payfold-source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts', 'emulator/test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/stop-processes.ts'],
    testTimeout: 60_000,
    // What a test waits for may take seconds on a loaded two-core machine (CI runs two files at once).
    expect: { poll: { timeout: 15_000 } },
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: more workers only make the Postgres-heavy files contend.
    maxWorkers: 2,
  },
});
