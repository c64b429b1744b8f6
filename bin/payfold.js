#!/usr/bin/env node
// Payfold ships its TypeScript sources; tsx compiles them on load, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
