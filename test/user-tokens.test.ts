import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userTokenVerifier } from '../src/adapters/user-tokens.js';

const secret = 'a-jwt-secret-of-at-least-32-characters!';
const hs256 = (claims: Record<string, unknown>, key = secret) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(key));

describe('user tokens of the session API', () => {
  it('is off without a secret or a JWKS URL', () => {
    expect(userTokenVerifier({})).toBeUndefined();
  });

  it('checks the audience when one is configured, and not-before', async () => {
    const verify = userTokenVerifier({ secret, audience: 'payfold' }) as NonNullable<
      ReturnType<typeof userTokenVerifier>
    >;
    expect(await verify(await hs256({ sub: 'u1', aud: 'payfold' }))).toMatchObject({
      ok: true,
      claims: { sub: 'u1' },
    });
    expect(await verify(await hs256({ sub: 'u1', aud: 'another-app' }))).toEqual({
      ok: false,
      message: 'The token is for another audience',
    });
    expect(
      await verify(await hs256({ sub: 'u1', aud: 'payfold', nbf: Math.floor(Date.now() / 1000) + 600 })),
    ).toEqual({
      ok: false,
      message: 'The token is not valid yet',
    });
    expect(await verify(new UnsecuredJWT({ sub: 'u1', aud: 'payfold' }).encode())).toEqual({
      ok: false,
      message: 'The token is not valid',
    });
  });

  it('refuses a token without an expiry, which would never expire', async () => {
    const verify = userTokenVerifier({ secret }) as NonNullable<ReturnType<typeof userTokenVerifier>>;
    const endless = await new SignJWT({ sub: 'u1' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    expect(await verify(endless)).toEqual({ ok: false, message: 'The token has no exp claim' });
  });

  it('checks the issuer when one is configured, and the token\u2019s age when a maximum is', async () => {
    const verify = userTokenVerifier({
      secret,
      issuer: 'https://auth.example.com',
      maxAgeSeconds: 3600,
    }) as NonNullable<ReturnType<typeof userTokenVerifier>>;
    const issued = (claims: Record<string, unknown>, iat: number) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt(iat)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
    const now = Math.floor(Date.now() / 1000);
    expect(await verify(await issued({ sub: 'u1', iss: 'https://auth.example.com' }, now))).toMatchObject({
      ok: true,
    });
    expect(await verify(await issued({ sub: 'u1', iss: 'https://other.example.com' }, now))).toEqual({
      ok: false,
      message: 'The token is from another issuer',
    });
    expect(await verify(await issued({ sub: 'u1' }, now))).toEqual({
      ok: false,
      message: 'The token has no iss claim',
    });
    expect(
      await verify(await issued({ sub: 'u1', iss: 'https://auth.example.com' }, now - 2 * 3600)),
    ).toEqual({ ok: false, message: 'The token is too old' });
  });

  describe('with a JWKS URL', () => {
    let server: Server;
    let url: string;
    let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

    beforeAll(async () => {
      const pair = await generateKeyPair('RS256');
      privateKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
      server = createServer((_request, response) => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('accepts a token signed with a published key and refuses another key', async () => {
      const verify = userTokenVerifier({ jwksUrl: url }) as NonNullable<ReturnType<typeof userTokenVerifier>>;
      const token = await new SignJWT({ sub: 'u2' })
        .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
        .setExpirationTime('5m')
        .sign(privateKey);
      expect(await verify(token)).toMatchObject({ ok: true, claims: { sub: 'u2' } });
      const stranger = (await generateKeyPair('RS256')).privateKey;
      const forged = await new SignJWT({ sub: 'u2' })
        .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
        .setExpirationTime('5m')
        .sign(stranger);
      expect((await verify(forged)).ok).toBe(false);
      // An HS256 token cannot pass for one signed with the published key.
      expect((await verify(await hs256({ sub: 'u2' }))).ok).toBe(false);
    });
  });
});
