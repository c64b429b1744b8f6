import { StripeApiError } from './params.js';
import { emulatorApiVersion } from './store.js';

const versionPattern = /^(\d{4}-\d{2}-\d{2})(\.[a-z]+)?$/;

/**
 * An API version a request or a webhook endpoint may name: Stripe's form (`2026-10-28.endive`),
 * no later than the one the emulator speaks (the `stripe` package's). Anything else is refused
 * as Stripe refuses a version it does not have. Objects are always in the emulator's version.
 */
export const knownApiVersion = (version: string, param?: string): string => {
  const date = versionPattern.exec(version)?.[1];
  const latest = versionPattern.exec(emulatorApiVersion)?.[1] as string;
  if (!date || date > latest || (date === latest && version !== emulatorApiVersion)) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Invalid Stripe API version: ${version}`,
      param ? 'parameter_invalid' : undefined,
      param,
    );
  }
  return version;
};
