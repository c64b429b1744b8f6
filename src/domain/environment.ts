import { z } from 'zod';

/** A Stripe account has two separate worlds of objects: test mode and live mode. */
export const environmentSchema = z.enum(['test', 'live']);
export type Environment = z.infer<typeof environmentSchema>;

export const isEnvironment = (value: string): value is Environment =>
  environmentSchema.safeParse(value).success;

export const environmentOfLivemode = (livemode: boolean): Environment => (livemode ? 'live' : 'test');
