import { fail, ok, type Result } from './errors.ts';

/**
 * A lock share is stored exactly as integer parts per million: 1_000_000 is a full lock,
 * 0 is no lock, 250_000 protects a quarter of the balance ([0035]).
 */
export const lockPpmFull = 1_000_000;

/**
 * Accepts a share in [0, 1] as a number (0.25) or a decimal string ("0.25"), with at most six
 * decimal places so it is representable exactly in parts per million. `true`/`false` are not
 * shares: the API says `share`, and an absent share means a full lock.
 */
export function parseLockShare(value: unknown): Result<number> {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return invalidShare();
    text = String(value);
    // A number like 1e-7 prints in exponent form and is not representable in ppm.
    if (/e/i.test(text)) return invalidShare();
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return invalidShare();
  }
  const match = /^(0|1)(?:\.(\d{1,6}))?$/.exec(text) ?? /^()\.(\d{1,6})$/.exec(text);
  if (!match) {
    if (/^\d*\.\d{7,}$/.test(text)) {
      return fail('invalid_lock_share', 'A lock share has at most six decimal places (parts per million).');
    }
    return invalidShare();
  }
  const whole = match[1] === '1' ? 1 : 0;
  const fraction = Number((match[2] ?? '').padEnd(6, '0'));
  const ppm = whole * lockPpmFull + fraction;
  if (ppm > lockPpmFull) return invalidShare();
  return ok(ppm);
}

function invalidShare(): Result<number> {
  return fail('invalid_lock_share', 'A lock share is a number from 0 to 1 (e.g. 0.25).');
}

/** The share as a decimal string with no trailing zeros ("0.25", "1", "0"). */
export function formatLockShare(ppm: number): string {
  if (ppm === lockPpmFull) return '1';
  if (ppm === 0) return '0';
  return `0.${String(ppm).padStart(6, '0').replace(/0+$/, '')}`;
}
