import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';

export interface UserTokenOptions {
  /** `PAYFOLD_JWT_SECRET`: tokens signed with HS256. */
  secret?: string;
  /** `PAYFOLD_JWKS_URL`: tokens signed with a key the app's auth server publishes. */
  jwksUrl?: string;
  /** `PAYFOLD_JWT_AUDIENCE`: when set, a token must name it in `aud`. */
  audience?: string;
}

export type UserTokenCheck = { ok: true; claims: JWTPayload } | { ok: false; message: string };

const verifiedForMs = 60_000;
const maxVerified = 10_000;

/** Why a token was refused, in words a caller can act on (never the token). */
const refusal = (error: unknown): string => {
  if (error instanceof errors.JWTExpired) return 'The token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === 'nbf'
      ? 'The token is not valid yet'
      : error.claim === 'aud'
        ? 'The token is for another audience'
        : `The token's ${error.claim} claim is not valid`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'The token is signed with an unknown key';
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return 'The signing keys could not be fetched';
  }
  return 'The token is not valid';
};

/**
 * Verifies the bearer tokens of the session API with `jose`: signature (HS256 with the secret, or
 * the algorithms of the JWKS), expiry, not-before and, when configured, audience. Undefined when
 * neither a secret nor a JWKS URL is configured: the session API is then off.
 */
export const userTokenVerifier = (
  options: UserTokenOptions,
): ((token: string) => Promise<UserTokenCheck>) | undefined => {
  const key: Uint8Array | JWTVerifyGetKey | undefined = options.secret
    ? new TextEncoder().encode(options.secret)
    : options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl))
      : undefined;
  if (!key) return undefined;
  const verifyOptions = {
    ...(options.secret && { algorithms: ['HS256'] }),
    ...(options.audience && { audience: options.audience }),
  };
  // A user sends the same token with each request: its signature is checked once a minute at
  // most, its times on every use.
  const verified = new Map<string, { claims: JWTPayload; checkedAt: number }>();
  return async (token) => {
    const now = Date.now();
    const known = verified.get(token);
    const seconds = now / 1000;
    if (
      known &&
      now - known.checkedAt < verifiedForMs &&
      (known.claims.exp === undefined || known.claims.exp > seconds) &&
      (known.claims.nbf === undefined || known.claims.nbf <= seconds)
    ) {
      return { ok: true, claims: known.claims };
    }
    try {
      const { payload } =
        key instanceof Uint8Array
          ? await jwtVerify(token, key, verifyOptions)
          : await jwtVerify(token, key, verifyOptions);
      if (verified.size >= maxVerified) verified.clear();
      verified.set(token, { claims: payload, checkedAt: now });
      return { ok: true, claims: payload };
    } catch (error) {
      verified.delete(token);
      return { ok: false, message: refusal(error) };
    }
  };
};
