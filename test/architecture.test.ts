import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

const sourceFiles = (directory: string): string[] =>
  readdirSync(path.join(root, directory), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));

/** What a file imports: repository paths for relative imports, package names for the rest. */
const importsOf = (file: string): string[] =>
  [...readFileSync(path.join(root, file), 'utf8').matchAll(/(?:from|import)\s+'([^']+)'/g)].map(
    ([, target]) =>
      (target as string).startsWith('.')
        ? path.relative(root, path.resolve(path.dirname(path.join(root, file)), target as string))
        : (target as string),
  );

/** Each file's imports that break a rule: `forbidden` says what a file may not import. */
const violations = (directory: string, forbidden: (target: string, file: string) => boolean): string[] =>
  sourceFiles(directory).flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden(target, file))
      .map((target) => `${file} imports ${target}`),
  );

const under = (target: string, ...directories: string[]) =>
  directories.some((directory) => target === directory || target.startsWith(`${directory}/`));

describe('the layout', () => {
  it('keeps the domain pure: no I/O libraries, nothing from the layers around it', () => {
    expect(
      violations(
        'src/domain',
        (target) =>
          under(target, 'src/projections', 'src/adapters', 'src/http', 'src/cli', 'src/app', 'src/main') ||
          [
            'pg',
            'fastify',
            'stripe',
            'pino',
            'node:fs',
            'node:fs/promises',
            'node:http',
            'node:net',
          ].includes(target),
      ),
    ).toEqual([]);
  });

  it('lets projections depend on the domain and the log port only', () => {
    expect(
      violations('src/projections', (target) =>
        under(target, 'src/adapters', 'src/http', 'src/cli', 'src/app', 'src/main', 'emulator'),
      ),
    ).toEqual([]);
  });

  it('gives the HTTP shell functions, never a database', () => {
    expect(
      violations(
        'src/http',
        (target) => target === 'pg' || under(target, 'src/adapters', 'src/main', 'emulator'),
      ),
    ).toEqual([]);
  });

  it('keeps the use cases apart from startup wiring and the shells', () => {
    expect(
      violations('src/app', (target) => under(target, 'src/main', 'src/http', 'src/cli', 'emulator')),
    ).toEqual([]);
  });

  it('keeps the dashboard a browser page of its own: it reaches Payfold only through the admin API', () => {
    expect(violations('src/dashboard', (target) => !under(target, 'src/dashboard'))).toEqual([]);
  });

  it('keeps the Stripe emulator a program of its own, reached by Payfold only from the demo and the CLI', () => {
    expect(violations('emulator', (target) => under(target, 'src', 'test', 'bench'))).toEqual([]);
    expect(
      violations(
        'src',
        (target, file) =>
          under(target, 'emulator') && !['src/cli/main.ts', 'src/main/demo.ts'].includes(file),
      ),
    ).toEqual([]);
  });
});
