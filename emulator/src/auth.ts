import { StripeApiError } from './params.js';

/** The API key of a request: a bearer token, or the user of Basic auth (`curl -u sk_test_…:`). */
const apiKeyOf = (authorization: string): string => {
  if (authorization.startsWith('Bearer ')) return authorization.slice('Bearer '.length);
  if (authorization.startsWith('Basic ')) {
    return Buffer.from(authorization.slice('Basic '.length), 'base64').toString('utf8').split(':')[0] ?? '';
  }
  return '';
};

/** The emulator is test mode only: any test-mode secret or restricted key is accepted. */
export const refusedApiKey = (authorization: string | undefined): StripeApiError | undefined =>
  /^(sk|rk)_test_\S+$/.test(apiKeyOf(authorization ?? ''))
    ? undefined
    : new StripeApiError(
        401,
        'invalid_request_error',
        'Invalid API Key provided: the emulator takes test-mode keys (sk_test_…).',
      );
