import { StripeApiError } from './params.js';

/** The API key of a request: a bearer token, or the user of Basic auth (`curl -u sk_test_…:`). */
const apiKeyOf = (authorization: string): string => {
  if (authorization.startsWith('Bearer ')) return authorization.slice('Bearer '.length);
  if (authorization.startsWith('Basic ')) {
    return Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8').split(':')[0] ?? '';
  }
  return '';
};

/**
 * The emulator is test mode only: any test-mode secret or restricted key is accepted. A restricted
 * key given `restrictedKeys` may only call the paths listed for it (`/v1/customers`…), as Stripe
 * answers a restricted key without the permission: 403 with a permission error.
 */
export const refusedApiKey = (
  authorization: string | undefined,
  path: string,
  restrictedKeys: Readonly<Record<string, readonly string[]>> = {},
): StripeApiError | undefined => {
  const key = apiKeyOf(authorization ?? '');
  if (!/^(sk|rk)_test_\S+$/.test(key)) {
    return new StripeApiError(
      401,
      'invalid_request_error',
      'Invalid API Key provided: the emulator takes test-mode keys (sk_test_…).',
    );
  }
  const allowed = restrictedKeys[key];
  if (!allowed || allowed.some((prefix) => path.startsWith(prefix))) return undefined;
  return new StripeApiError(
    403,
    'invalid_request_error',
    `The provided key does not have the required permissions for this endpoint (${path.split('?')[0]}).`,
    'secret_key_required',
  );
};
