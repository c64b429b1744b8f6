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
  typeof value === 'object' && value !== null && !mayHoldUnholdable(value) ? value : heldValue(value);

/** The JSON escape of NUL or of half a surrogate pair: the only way JSON text can carry either. */
const unholdableEscape = /\\u(?:0000|d[89a-f])/i;

/** Payloads parsed from text without such an escape (`parseHoldableJson`): nothing to walk. */
const knownHoldable = new WeakSet<object>();

/**
 * False when no text in the value can be unholdable. JSON.stringify writes NUL and every unpaired
 * surrogate as an escape, so their absence in its output settles it in one native pass; walking
 * every key and value of a 3 KB event took most of a rebuild's time spent here. Text that merely
 * contains such an escape sequence only costs the walk.
 */
const mayHoldUnholdable = (value: object): boolean =>
  !knownHoldable.has(value) && unholdableEscape.test(JSON.stringify(value));

/**
 * JSON text parsed, and remembered as holdable when it has no unholdable escape: valid UTF-8 text
 * (all Postgres hands out) can carry NUL and lone surrogates only as escapes, so one scan of the
 * text spares `textPostgresCanHold` its own pass over the parsed payload. The log adapter parses
 * entries with it.
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
