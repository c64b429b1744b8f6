import type Stripe from 'stripe';
import { type Params, StripeApiError } from './params.js';
import type { StripeRecord } from './store.js';

const bound = (value: unknown, name: string): number => {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Invalid integer: ${name}`,
      'parameter_invalid',
      name,
    );
  }
  return Number(value);
};

/** `created=…` or `created[gt|gte|lt|lte]=…`, as Stripe's list calls take it. */
const createdFilter = (created: unknown): ((record: StripeRecord) => boolean) => {
  if (created === undefined) return () => true;
  if (typeof created === 'string') {
    const at = bound(created, 'created');
    return (record) => record.created === at;
  }
  const range = created as Record<string, unknown>;
  const tests: Array<(value: number) => boolean> = [];
  if (range.gt !== undefined) tests.push((value) => value > bound(range.gt, 'created[gt]'));
  if (range.gte !== undefined) tests.push((value) => value >= bound(range.gte, 'created[gte]'));
  if (range.lt !== undefined) tests.push((value) => value < bound(range.lt, 'created[lt]'));
  if (range.lte !== undefined) tests.push((value) => value <= bound(range.lte, 'created[lte]'));
  return (record) => tests.every((test) => test(record.created));
};

/**
 * A Stripe list: newest first, `limit` (1–100, default 10), a cursor (`starting_after` or
 * `ending_before`, an object id), `created` filters, and `has_more`, so that the `stripe`
 * package's auto-pagination walks it to the end.
 */
export const listPage = (
  records: readonly StripeRecord[],
  params: Params,
  url: string,
  filter: (record: StripeRecord) => boolean = () => true,
) => {
  const limit = params.limit === undefined ? 10 : bound(params.limit, 'limit');
  if (limit < 1 || limit > 100) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      'Invalid limit: must be between 1 and 100.',
      'parameter_invalid',
      'limit',
    );
  }
  const matching = records.filter((record) => filter(record) && createdFilter(params.created)(record));
  let page: StripeRecord[];
  let hasMore: boolean;
  const cursor = (name: 'starting_after' | 'ending_before') => {
    const id = params[name] as string;
    const index = matching.findIndex((record) => record.id === id);
    if (index < 0) {
      throw new StripeApiError(
        404,
        'invalid_request_error',
        `No such object: '${id}'`,
        'resource_missing',
        name,
      );
    }
    return index;
  };
  if (typeof params.starting_after === 'string') {
    const after = matching.slice(cursor('starting_after') + 1);
    page = after.slice(0, limit);
    hasMore = after.length > limit;
  } else if (typeof params.ending_before === 'string') {
    const before = matching.slice(0, cursor('ending_before'));
    page = before.slice(Math.max(0, before.length - limit));
    hasMore = before.length > limit;
  } else {
    page = matching.slice(0, limit);
    hasMore = matching.length > limit;
  }
  return { object: 'list', data: page, has_more: hasMore, url };
};

/** Newest first; objects created in the same second in reverse order of creation. */
export const newestFirst = (records: Iterable<StripeRecord>): StripeRecord[] => [...records].reverse();

/** A list inside an object as Stripe embeds it, with the `total_count` the package's types leave out. */
export const embeddedList = <T>(data: T[], url: string): Stripe.ApiList<T> & { total_count: number } => ({
  object: 'list',
  data,
  has_more: false,
  total_count: data.length,
  url,
});
