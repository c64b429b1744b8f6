import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The payfold package's own manifest, found through the package's name (a self-reference), so that
 * the same code finds it from `src` in a checkout and from `dist` in an installed package.
 */
const manifestFile = createRequire(import.meta.url).resolve('payfold/package.json');

/** The folder payfold is installed in: a checkout, or `node_modules/payfold`. */
export const packageRoot = path.dirname(manifestFile);

export const packageVersion: string = JSON.parse(readFileSync(manifestFile, 'utf8')).version;
