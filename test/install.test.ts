import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

/** The lowest Node major a range like `>=22`, `^20.19 || >=22.12` or `20 || 22` admits. */
const lowestMajor = (range: string): number =>
  Math.min(
    ...range
      .split('||')
      .map((alternative) => Number(/(\d+)/.exec(alternative)?.[1] ?? Number.POSITIVE_INFINITY)),
  );

describe('a clean install', () => {
  it('holds no package that wants a newer Node than the one package.json promises (no engine warning)', () => {
    const promised = lowestMajor(
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).engines.node,
    );
    const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { engines?: { node?: string }; dev?: boolean; optional?: boolean }>;
    };
    const wanting = Object.entries(lock.packages)
      .filter(
        ([name, entry]) => name !== '' && entry.engines?.node && lowestMajor(entry.engines.node) > promised,
      )
      .map(([name, entry]) => `${name} wants node ${entry.engines?.node}`);
    expect(promised).toBe(20);
    expect(wanting).toEqual([]);
  });
});
