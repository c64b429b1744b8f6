#!/usr/bin/env node
// The compiled CLI: `npm run build` writes it, and `npm install` (of a checkout) and `npm pack` run
// that build through `prepare`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/server/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('payfold: the compiled CLI is missing (dist/server/cli/main.js): run npm run build\n');
  process.exit(1);
}
await import(main.href);
