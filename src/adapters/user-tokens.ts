import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';

export interface UserTokenOptions {
  /** `PAYFOLD_JWT_SECRET`: tokens signed with HS256. */
  secret?: string | undefined;
  /** `PAYFOLD_JWKS_URL`: tokens signed with a key the app's auth server publishes. */
  jwksUrl?: string | undefined;
  /** `PAYFOLD_JWT_AUDIENCE`: when set, a token must name it in `aud`. */
  audience?: string | undefined;
  /** `PAYFOLD_JWT_ISSUER`: when set, a token's `iss` must be it. */
  issuer?: string | undefined;
  /** `PAYFOLD_JWT_MAX_AGE_SECONDS`: when set, a token must carry `iat` no older than this. */
  maxAgeSeconds?: number | undefined;
}

export type UserTokenCheck = { ok: true; claims: JWTPayload } | { ok: false; message: string };

const verifiedForMs = 60_000;
const maxVerified = 10_000;

/** Why a token was refused, in words a caller can act on (never the token). */
const refusal = (error: unknown): string => {
  // jose reports a token past the maximum age as expired, naming `iat`.
  if (error instanceof errors.JWTExpired) {
    return error.claim === 'iat' ? 'The token is too old' : 'The token has expired';
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `The token has no ${error.claim} claim`;
    return error.claim === 'nbf'
      ? 'The token is not valid yet'
      : error.claim === 'aud'
        ? 'The token is for another audience'
        : error.claim === 'iss'
          ? 'The token is from another issuer'
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
 * the algorithms of the JWKS), expiry (required: a token without `exp` would never expire),
 * not-before and, when configured, audience, issuer and age. Undefined when neither a secret nor
 * a JWKS URL is configured: the session API is then off.
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
    requiredClaims: ['exp'],
    ...(options.secret && { algorithms: ['HS256'] }),
    ...(options.audience && { audience: options.audience }),
    ...(options.issuer && { issuer: options.issuer }),
    ...(options.maxAgeSeconds && { maxTokenAge: options.maxAgeSeconds }),
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
      known.claims.exp !== undefined &&
      known.claims.exp > seconds &&
      (known.claims.nbf === undefined || known.claims.nbf <= seconds) &&
      (!options.maxAgeSeconds || seconds - (known.claims.iat ?? 0) <= options.maxAgeSeconds)
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
