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

/**
 * False when no text in the value can be unholdable: JSON.stringify writes NUL and every unpaired
 * surrogate as an escape (`\u0000`, `\ud800`), so their absence in its output settles it in one
 * native pass, where walking every key and value of a 3 KB event took most of a rebuild's time
 * spent here. Text that merely contains such an escape sequence only costs the walk.
 */
const mayHoldUnholdable = (value: object): boolean => /\\u(?:0000|d[89a-f])/i.test(JSON.stringify(value));

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
