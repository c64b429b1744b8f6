import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { sameSecret } from '../src/http/admin/index.js';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

describe('the admin token comparison', () => {
  const expected = 'admin-token-of-some-length-0123456789';

  it('accepts the token and refuses every other, whatever its length', () => {
    expect(sameSecret(expected, expected)).toBe(true);
    for (const given of [
      '',
      'a',
      expected.slice(0, -1),
      `${expected}x`,
      expected.toUpperCase(),
      'é'.repeat(40),
    ]) {
      expect(sameSecret(given, expected), given).toBe(false);
    }
  });

  it('always compares two 32-byte digests in constant time: a wrong length is not answered sooner', () => {
    const compared = vi.mocked(crypto.timingSafeEqual);
    compared.mockClear();
    for (const given of ['', 'short', expected, `${expected}${'x'.repeat(500)}`]) sameSecret(given, expected);
    expect(compared).toHaveBeenCalledTimes(4);
    for (const [a, b] of compared.mock.calls) {
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
  });
});
