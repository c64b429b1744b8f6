import { type Logger, pino } from 'pino';

/**
 * Structured JSON logs. Payfold never logs payloads; the redaction is a second line of defence for
 * anything that looks like a credential reaching a log call by mistake.
 */
export const createLogger = (level: string): Logger =>
  pino({
    level,
    base: { service: 'payfold' },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["stripe-signature"]',
        '*.secretKey',
        '*.secret',
        '*.password',
        '*.masterKey',
        '*.connectionString',
      ],
      censor: '[redacted]',
    },
  });
