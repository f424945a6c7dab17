// Two projects: fast unit tests (pure functions and synthesized manifests) and integration tests that
// start the real daemons from Debian packages. ts-jest transpiles only (isolatedModules); type errors
// are caught by `tsc -p tsconfig.dev.json` in scripts/test.sh, which is much faster than type-checking
// the 800 KB k8s.d.ts once per test file.
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.dev.json' }] };
module.exports = {
  // The digest goes last in the output, where CI's kept tail sees it.
  reporters: ['default', '<rootDir>/test/support/failure-digest-reporter.js'],
  // The default per test (a global option: jest ignores it per project). Some unit tests run the rendered shell
  // scripts (bash, a stub erl, openssl) as child processes: a few hundred ms on an idle machine, over jest's 5 s
  // default when the cores are shared with real-daemon suites (seen: the galera-backup archive.sh tests, rabbitmq
  // start.sh). A timeout is a hang guard, not a speed check; integration tests set their own, longer ones.
  testTimeout: 30_000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
  ],
};
