/**
 * Currencies Stripe counts in whole units (no minor unit) and those with three decimals: an
 * amount of 500 in JPY is ¥500, in USD $5.00, in KWD 0.500 KD.
 */
const zeroDecimal = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);
const threeDecimal = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

export const minorUnitDigits = (currency: string): number => {
  const code = currency.toLowerCase();
  if (zeroDecimal.has(code)) return 0;
  return threeDecimal.has(code) ? 3 : 2;
};

/** An amount in minor units, in the currency's own format (`$20.00`, `¥500`). */
export const formatMoney = (amount: unknown, currency: unknown): string => {
  if (typeof amount !== 'number' || typeof currency !== 'string' || currency === '') return '—';
  const digits = minorUnitDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, {
      style: 'currency',
      currency: currency.toUpperCase(),
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(amount / 10 ** digits);
  } catch {
    return `${(amount / 10 ** digits).toFixed(digits)} ${currency.toUpperCase()}`;
  }
};

/** An amount typed in major units (`20`, `20.5`) as Stripe's minor units, or null when it is not one. */
export const parseMajorAmount = (text: string, currency: string): number | null => {
  const digits = minorUnitDigits(currency);
  const pattern = digits === 0 ? /^\d+$/ : new RegExp(`^\\d+(\\.\\d{1,${digits}})?$`);
  const trimmed = text.trim();
  if (!pattern.test(trimmed)) return null;
  const [whole = '0', fraction = ''] = trimmed.split('.');
  return Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0');
};

// `dateStyle` cannot be combined with `timeZoneName`: the fields are named one by one.
const timeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

/** A time in the browser's own zone, as a `<time>` element. */
export const formatTime = (value: unknown): HTMLTimeElement | string => {
  if (typeof value !== 'string' || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const element = document.createElement('time');
  element.dateTime = date.toISOString();
  element.textContent = timeFormat.format(date);
  return element;
};

export const text = (value: unknown): string =>
  value === null || value === undefined || value === ''
    ? '—'
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);

export const yesNo = (value: unknown): string => (value === true ? 'yes' : value === false ? 'no' : '—');

/**
 * A link taken from Stripe data, only when it is an `https:` URL: a payload that says
 * `javascript:…` (a forged event, a compromised account) must not become a link an admin clicks.
 */
export const httpsUrl = (value: unknown): string | null => {
  if (typeof value !== 'string' || !URL.canParse(value)) return null;
  return new URL(value).protocol === 'https:' ? value : null;
};
