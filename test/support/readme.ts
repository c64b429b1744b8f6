import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The README as a user reads it: tests hold its examples and tables to the code. */
export const readmeText = (): string =>
  readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
