import { z } from 'zod';
import { environmentSchema } from '../../domain/environment.js';
import type { RouteDoc } from '../openapi.js';

/**
 * An admin route's documentation: its summary, what it takes, what it answers (200, with its
 * schema), and its errors beside the common ones.
 */
export const admin = (
  summary: string,
  { answer, ...extra }: Omit<RouteDoc, 'summary' | 'auth' | 'responses'> & { answer: z.ZodType },
  responses: Record<number, string> = {},
) => ({
  config: {
    doc: {
      summary,
      auth: 'admin' as const,
      ...extra,
      responses: {
        200: { description: 'Done', schema: answer },
        401: 'No or wrong admin token',
        503: 'The admin API is off',
        ...responses,
      },
    },
  },
});

export const environmentParams = z.object({ environment: environmentSchema });
export const environmentQuery = z.object({ environment: environmentSchema });
export const withEnvironment = <T extends z.ZodRawShape>(shape: T) =>
  z.object({ environment: environmentSchema, ...shape }).strict();
