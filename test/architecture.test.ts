import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

const sourceFiles = (directory: string): string[] =>
  readdirSync(path.join(root, directory), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)));

/** What a file imports: repository paths for relative imports, package names for the rest. */
const importsOf = (file: string): string[] =>
  [...readFileSync(path.join(root, file), 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map(
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

/** Projections and the engine are reached from outside their folder through their `index.ts` only. */
const publicEntries = [
  'src/projections/engine',
  'src/projections/payments',
  'src/projections/webhook-deliveries',
];

/** Every function in a file longer than `limit` lines (declarations, methods, arrows). */
const longFunctions = (file: string, limit: number): string[] => {
  const source = ts.createSourceFile(
    file,
    readFileSync(path.join(root, file), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const lines = source.getLineAndCharacterOfPosition(node.getEnd()).line - first + 1;
      if (lines > limit) found.push(`${file}:${first + 1} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
};

describe('the layout', () => {
  it('keeps the domain pure: no I/O libraries, nothing from the layers around it', () => {
    expect(
      violations(
        'src/domain',
        (target) =>
          under(
            target,
            'src/ports',
            'src/projections',
            'src/subscribers',
            'src/adapters',
            'src/http',
            'src/cli',
            'src/app',
            'src/main',
          ) ||
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

  it('declares every interface the core depends on in src/ports, in terms of the domain', () => {
    expect(
      violations('src/ports', (target) => !under(target, 'src/domain', 'src/ports') && target !== 'stripe'),
    ).toEqual([]);
  });

  it('lets projections depend on the domain and the ports only', () => {
    expect(
      violations('src/projections', (target) =>
        under(
          target,
          'src/adapters',
          'src/http',
          'src/cli',
          'src/app',
          'src/main',
          'src/subscribers',
          'emulator',
        ),
      ),
    ).toEqual([]);
  });

  it('keeps subscribers in a room of their own, beside the projections', () => {
    expect(
      violations('src/subscribers', (target) =>
        under(target, 'src/adapters', 'src/http', 'src/cli', 'src/app', 'src/main', 'emulator'),
      ),
    ).toEqual([]);
  });

  it('reaches each projection and the engine through its public entry only', () => {
    const reachesInside = (target: string, file: string) =>
      publicEntries.some(
        (entry) => under(target, entry) && !under(file, entry) && target !== `${entry}/index.js`,
      );
    expect(violations('src', reachesInside)).toEqual([]);
  });

  it('keeps the use cases off the adapters, the database driver and the shells', () => {
    expect(
      violations(
        'src/app',
        (target) =>
          target === 'pg' || under(target, 'src/adapters', 'src/main', 'src/http', 'src/cli', 'emulator'),
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

  it('builds and wires objects only in src/main: no other layer imports an adapter', () => {
    expect(
      violations(
        'src',
        (target, file) => under(target, 'src/adapters') && !under(file, 'src/adapters', 'src/main'),
      ),
    ).toEqual([]);
  });

  it('lets only the adapters, the projections and the subscribers speak to Postgres (pg)', () => {
    expect(
      violations(
        'src',
        (target, file) =>
          target === 'pg' && !under(file, 'src/adapters', 'src/projections', 'src/subscribers'),
      ),
    ).toEqual([]);
  });

  it('keeps the dashboard a browser page of its own: it reaches Payfold only through the admin API', () => {
    expect(violations('src/dashboard', (target) => !under(target, 'src/dashboard'))).toEqual([]);
  });

  it('keeps the Stripe emulator a package of its own, imported by its name from the demo and the CLI', () => {
    expect(
      violations(
        'emulator',
        (target) => under(target, 'src', 'test', 'bench') || target.startsWith('payfold/'),
      ),
    ).toEqual([]);
    for (const directory of ['src', 'test', 'bench']) {
      expect(violations(directory, (target) => under(target, 'emulator'))).toEqual([]);
    }
    expect(
      violations(
        'src',
        (target, file) =>
          target.startsWith('payfold-stripe-emulator') &&
          !['src/cli/main.ts', 'src/main/demo.ts', 'src/emulator.ts'].includes(file),
      ),
    ).toEqual([]);
  });

  it('keeps every function in src under 120 lines', () => {
    expect(sourceFiles('src').flatMap((file) => longFunctions(file, 120))).toEqual([]);
  });
});
