/** NUL, and halves of UTF-16 surrogate pairs without their other half. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this finds
const unholdable = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const everyUnholdable = new RegExp(unholdable.source, 'g');

const holdable = (text: string): string =>
  unholdable.test(text) ? text.replace(everyUnholdable, '\uFFFD') : text;

/**
 * A payload as Postgres can hold it in `jsonb` and `text`: NUL and unpaired surrogates (legal in
 * JSON, refused by Postgres) become U+FFFD, in keys and values alike. The log keeps the bytes as
 * Stripe signed them; only the projected copies are changed. Returns the same object when
 * nothing needs to change.
 */
export const textPostgresCanHold = <T>(value: T): T =>
  typeof value === 'object' && value !== null && knownHoldable.has(value) ? value : heldValue(value);

/** The JSON escape of NUL or of half a surrogate pair: the only way JSON text can carry either. */
const unholdableEscape = /\\u(?:0000|d[89a-f])/i;

/** Payloads parsed from text without such an escape (`parseHoldableJson`): nothing to walk. */
const knownHoldable = new WeakSet<object>();

/**
 * JSON text parsed, and remembered as holdable when it has no unholdable escape: valid UTF-8 text
 * (all Postgres hands out) can carry NUL and lone surrogates only as escapes, so one scan of the
 * text spares `textPostgresCanHold` its walk over every key and value of the parsed payload, which
 * in a rebuild took as long as parsing it. The log adapter parses entries with it.
 */
export const parseHoldableJson = (text: string): unknown => {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && !unholdableEscape.test(text)) knownHoldable.add(value);
  return value;
};

const heldValue = <T>(value: T): T => {
  if (typeof value === 'string') return holdable(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let changed = false;
    const items = value.map((item) => {
      const held = heldValue(item);
      if (held !== item) changed = true;
      return held;
    });
    return (changed ? items : value) as T;
  }
  let changed = false;
  const entries = Object.entries(value as Record<string, unknown>).map(([key, item]) => {
    const heldKey = holdable(key);
    const held = heldValue(item);
    if (heldKey !== key || held !== item) changed = true;
    return [heldKey, held] as const;
  });
  return (changed ? Object.fromEntries(entries) : value) as T;
};
