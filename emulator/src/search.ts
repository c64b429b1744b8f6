import { invalid, type Params, StripeApiError } from './params.js';
import type { StripeRecord } from './store.js';

/**
 * Stripe's search query language (`email:'a@b.test' AND metadata['plan']:'team'`), over the
 * fields each resource lets search: `:` matches exactly (case-insensitively), `~` contains (at
 * least 3 characters), `<`, `<=`, `>`, `>=` compare numbers, `-` negates, `null` matches a missing
 * value; clauses join with `AND` or with `OR`, not both, ten at most.
 */

interface Clause {
  field: string;
  /** The metadata key, for `metadata['key']`. */
  key: string | null;
  operator: ':' | '~' | '<' | '<=' | '>' | '>=';
  value: string | number | null;
  negated: boolean;
}

const clausePattern =
  /^(-)?([a-z_.]+)(?:\[['"]([^'"]+)['"]\])?(:|~|<=|>=|<|>)(?:'([^']*)'|"([^"]*)"|(-?\d+(?:\.\d+)?)|(null))$/;

const tokens = (query: string): string[] => {
  const found: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const character of query) {
    if (quote) {
      current += character;
      if (character === quote) quote = null;
    } else if (character === "'" || character === '"') {
      current += character;
      quote = character;
    } else if (/\s/.test(character)) {
      if (current) found.push(current);
      current = '';
    } else current += character;
  }
  if (current) found.push(current);
  return found;
};

const badQuery = (message: string) => invalid('query', message);

const parseQuery = (query: string, fields: readonly string[], resource: string) => {
  const words = tokens(query);
  const clauses: Clause[] = [];
  const joins = new Set<string>();
  words.forEach((word, index) => {
    if (index % 2 === 1) {
      if (word !== 'AND' && word !== 'OR')
        throw badQuery(`Expected AND or OR between clauses, found ${word}.`);
      joins.add(word);
      return;
    }
    const match = clausePattern.exec(word);
    if (!match) throw badQuery(`The query could not be parsed at: ${word}`);
    const [, negation, field, key, operator, single, double, number, nullValue] = match;
    if (!fields.includes(field as string)) {
      throw badQuery(`Field \`${field}\` is an unsupported search field for resource \`${resource}\`.`);
    }
    const value = nullValue ? null : number !== undefined ? Number(number) : (single ?? double ?? '');
    if (operator === '~' && (typeof value !== 'string' || value.length < 3)) {
      throw badQuery('A substring search (~) needs a quoted value of at least 3 characters.');
    }
    clauses.push({
      field: field as string,
      key: key ?? null,
      operator: operator as Clause['operator'],
      value,
      negated: negation === '-',
    });
  });
  if (clauses.length === 0 || words.length % 2 === 0)
    throw badQuery('The query is empty or ends with AND/OR.');
  if (joins.size > 1) throw badQuery('A query cannot combine AND and OR.');
  if (clauses.length > 10) throw badQuery('A query can have at most 10 clauses.');
  return { clauses, any: joins.has('OR') };
};

/** A field's value: nested (`billing_details.address.postal_code`) or a metadata key; ids of expandables. */
const fieldValue = (record: StripeRecord, clause: Clause): unknown => {
  let value: unknown = record;
  for (const part of clause.field.split('.')) value = (value as Record<string, unknown> | null)?.[part];
  if (clause.key !== null) value = (value as Record<string, unknown> | null)?.[clause.key];
  if (value && typeof value === 'object' && 'id' in value) return (value as { id: unknown }).id;
  return value;
};

const holds = (record: StripeRecord, clause: Clause): boolean => {
  const value = fieldValue(record, clause);
  const wanted = clause.value;
  let result: boolean;
  if (wanted === null) result = value === null || value === undefined;
  else if (clause.operator === ':')
    result = String(value ?? '').toLowerCase() === String(wanted).toLowerCase();
  else if (clause.operator === '~')
    result = String(value ?? '')
      .toLowerCase()
      .includes(String(wanted).toLowerCase());
  else {
    const number = Number(value);
    const bound = Number(wanted);
    result =
      typeof value === 'number' &&
      (clause.operator === '<'
        ? number < bound
        : clause.operator === '<='
          ? number <= bound
          : clause.operator === '>'
            ? number > bound
            : number >= bound);
  }
  return clause.negated ? !result : result;
};

/** `page` tokens are where the next page starts, as Stripe's opaque ones. */
const pageToken = (offset: number) => Buffer.from(`offset:${offset}`).toString('base64url');
const offsetOf = (token: unknown): number => {
  if (token === undefined || token === '') return 0;
  const decoded = /^offset:(\d+)$/.exec(Buffer.from(String(token), 'base64url').toString('utf8'));
  if (!decoded) throw invalid('page', 'Invalid page token.');
  return Number(decoded[1]);
};

/** One page of a search (`GET /v1/<resource>/search`), newest first, as Stripe answers it. */
export const searchPage = (
  records: readonly StripeRecord[],
  params: Params,
  options: { fields: readonly string[]; resource: string; url: string },
) => {
  if (typeof params.query !== 'string' || params.query.trim() === '') {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      'Missing required param: query.',
      'parameter_missing',
      'query',
    );
  }
  const { clauses, any } = parseQuery(params.query, options.fields, options.resource);
  const limit = params.limit === undefined ? 10 : Number(params.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw invalid('limit', 'Invalid limit: must be between 1 and 100.');
  const matching = records.filter((record) =>
    any ? clauses.some((clause) => holds(record, clause)) : clauses.every((clause) => holds(record, clause)),
  );
  const offset = offsetOf(params.page);
  const data = matching.slice(offset, offset + limit);
  const hasMore = offset + limit < matching.length;
  return {
    object: 'search_result',
    data,
    has_more: hasMore,
    next_page: hasMore ? pageToken(offset + limit) : null,
    url: options.url,
  };
};
