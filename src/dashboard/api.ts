/** The admin token lives in this tab's session storage only: closing the tab signs out. */
const tokenKey = 'payfold.adminToken';

export const adminToken = {
  get: (): string | null => sessionStorage.getItem(tokenKey),
  set: (token: string): void => sessionStorage.setItem(tokenKey, token),
  clear: (): void => sessionStorage.removeItem(tokenKey),
};

export interface ApiError {
  status: number;
  code: string;
  message: string;
}

export type Answer<T> = { data: T; error?: undefined } | { data?: undefined; error: ApiError };

/** Called when the server refuses the token (401): the dashboard goes back to its sign-in form. */
let onRefused: () => void = () => undefined;
export const whenTokenRefused = (handler: () => void): void => {
  onRefused = handler;
};

/**
 * One call to an admin route with the stored token. Never throws: a refusal, a network failure or
 * an answer that is not JSON comes back as `error`, with the one line the server gave.
 */
export const callAdmin = async <T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  token = adminToken.get(),
): Promise<Answer<T>> => {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${token ?? ''}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    return { error: { status: 0, code: 'network_error', message: 'Payfold did not answer; is it running?' } };
  }
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    parsed = undefined;
  }
  if (response.ok) return { data: parsed as T };
  const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
  // Refused while signed in (the token was changed on the server); a sign-in attempt answers itself.
  if (response.status === 401 && token !== null && token === adminToken.get()) onRefused();
  return {
    error: {
      status: response.status,
      code: error?.code ?? 'http_error',
      message: error?.message ?? `Payfold answered ${response.status}`,
    },
  };
};

/** `?environment=test&…` for a route's query. */
export const query = (values: Record<string, string | number | undefined>): string => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(values))
    if (value !== undefined) search.set(name, String(value));
  return `?${search}`;
};
