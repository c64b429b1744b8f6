#!/usr/bin/env node
// The emulator ships its TypeScript sources; tsx compiles them on load, so there is no build step.
import { register } from 'tsx/esm/api';

register();
const { runEmulatorCli } = await import('../src/cli.ts');
await runEmulatorCli(process.argv);
