import { z } from 'zod';
import { environmentSchema } from '../../domain/environment.js';
import type { RouteDoc } from '../openapi.js';

/** An admin route's documentation: its summary, what it takes, and its answers beside the common ones. */
export const admin = (
  summary: string,
  extra: Omit<RouteDoc, 'summary' | 'auth' | 'responses'> = {},
  responses: Record<number, string> = {},
) => ({
  config: {
    doc: {
      summary,
      auth: 'admin' as const,
      ...extra,
      responses: { 200: 'Done', 401: 'No or wrong admin token', 503: 'The admin API is off', ...responses },
    },
  },
});

export const environmentParams = z.object({ environment: environmentSchema });
export const environmentQuery = z.object({ environment: environmentSchema });
export const withEnvironment = <T extends z.ZodRawShape>(shape: T) =>
  z.object({ environment: environmentSchema, ...shape }).strict();
