#!/usr/bin/env node
// The emulator's compiled command line (`npm run build` in this package, which Payfold's build runs).
const { runEmulatorCli } = await import('../dist/cli.js');
await runEmulatorCli(process.argv);
