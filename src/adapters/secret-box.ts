import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SecretBox } from '../ports/stores.js';

/**
 * Secrets at rest (Stripe keys, webhook signing secrets): AES-256-GCM under `PAYFOLD_MASTER_KEY`,
 * a random 96-bit IV per secret, and the place the secret belongs (say `stripe_connections/test`)
 * as associated data, so a sealed secret copied to another row does not open. The sealed form
 * names the master key by a short fingerprint, so after a rotation each secret is opened with the
 * key that sealed it: `v1.<key id>.<iv>.<tag>.<ciphertext>`, base64url.
 */
const version = 'v1';

export class SecretUnreadableError extends Error {}

/** A master key's fingerprint: the first 8 hex digits of its SHA-256. */
export const masterKeyId = (masterKey: Buffer): string =>
  createHash('sha256').update(masterKey).digest('hex').slice(0, 8);

export const sealSecret = (masterKey: Buffer, secret: string, belongsTo: string): string => {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(belongsTo, 'utf8'));
  const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return [version, masterKeyId(masterKey), iv, cipher.getAuthTag(), sealed]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
};

/** Opens a sealed secret with whichever of the master keys sealed it. */
export const openSecret = (masterKeys: readonly Buffer[], sealed: string, belongsTo: string): string => {
  const [sealedVersion, keyId, iv, tag, body] = sealed.split('.');
  if (sealedVersion !== version || !keyId || !iv || !tag || body === undefined)
    throw new SecretUnreadableError(`the stored secret of ${belongsTo} is not in a form Payfold knows`);
  const masterKey = masterKeys.find((key) => masterKeyId(key) === keyId);
  if (!masterKey) {
    throw new SecretUnreadableError(
      `the stored secret of ${belongsTo} was sealed under another master key (${keyId}): set it as PAYFOLD_MASTER_KEY_PREVIOUS`,
    );
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(belongsTo, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    throw new SecretUnreadableError(`the stored secret of ${belongsTo} does not open: it was altered`);
  }
};

/** Secrets sealed under the first master key, opened with any of them (the previous one while rotating). */
export const secretBox = (masterKeys: readonly Buffer[]): SecretBox => {
  const current = masterKeys[0];
  if (!current) throw new Error('a secret box needs a master key');
  const currentId = masterKeyId(current);
  return {
    seal: (secret, belongsTo) => sealSecret(current, secret, belongsTo),
    open: (sealed, belongsTo) => openSecret(masterKeys, sealed, belongsTo),
    sealedUnderCurrentKey: (sealed) => sealed.split('.')[1] === currentId,
  };
};
