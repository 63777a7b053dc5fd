import { fail, ok, type Result } from './errors.ts';

/**
 * ISO 4217 currencies Lockstep accepts, with their exponent (minor units per major unit is
 * 10^exponent). Amounts are always integers in minor units: JPY 10500 is ¥10,500 and USD 1050
 * is $10.50.
 */
export const currencies = {
  JPY: { exponent: 0 },
  KRW: { exponent: 0 },
  USD: { exponent: 2 },
  EUR: { exponent: 2 },
  GBP: { exponent: 2 },
  CHF: { exponent: 2 },
  CNY: { exponent: 2 },
  AUD: { exponent: 2 },
  CAD: { exponent: 2 },
  SGD: { exponent: 2 },
  KWD: { exponent: 3 },
  BHD: { exponent: 3 },
} as const satisfies Record<string, { exponent: number }>;

export type CurrencyCode = keyof typeof currencies;

/**
 * The largest amount any single balance or movement may have, in minor units. It keeps every
 * sum of two amounts a safe integer and fits a PostgreSQL BIGINT with room to spare.
 */
export const amountMinorMax = 1_000_000_000_000_000; // 10^15

export function isCurrencyCode(value: unknown): value is CurrencyCode {
  return typeof value === 'string' && Object.hasOwn(currencies, value);
}

export function currencyExponent(currency: CurrencyCode): number {
  return currencies[currency].exponent;
}

export function parseCurrency(value: unknown): Result<CurrencyCode> {
  if (isCurrencyCode(value)) return ok(value);
  return fail('unknown_currency', `Unknown currency ${JSON.stringify(value)}.`, {
    supported: Object.keys(currencies).join(','),
  });
}

export interface AmountRule {
  /** Whether zero is a valid value here (a fee may be zero; a deposit may not). */
  allowZero: boolean;
}

/**
 * Checks that `value` is an integer number of minor units within [0 or 1, amountMinorMax].
 * Floats, strings, NaN, negative numbers and values past the bound are each refused.
 */
export function parseAmountMinor(value: unknown, rule: AmountRule = { allowZero: false }): Result<number> {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    return fail('invalid_amount', 'Amounts are integers in minor units (e.g. 10500 for ¥10,500).');
  }
  if (value < 0 || (value === 0 && !rule.allowZero)) {
    return fail(
      'invalid_amount',
      rule.allowZero ? 'Amount must not be negative.' : 'Amount must be positive.',
    );
  }
  if (value > amountMinorMax) {
    return fail('amount_out_of_range', `Amount must be at most ${amountMinorMax} minor units.`, {
      amountMinorMax,
    });
  }
  return ok(value);
}

/** Money in one currency. Arithmetic across currencies is refused, never converted. */
export interface Money {
  readonly amountMinor: number;
  readonly currency: CurrencyCode;
}

export function money(amountMinor: number, currency: CurrencyCode): Money {
  return { amountMinor, currency };
}

export function addMoney(a: Money, b: Money): Result<Money> {
  if (a.currency !== b.currency) {
    return fail('currency_mismatch', `Cannot add ${b.currency} to ${a.currency}.`);
  }
  const sum = a.amountMinor + b.amountMinor;
  if (sum > amountMinorMax) {
    return fail('amount_out_of_range', `Amount must be at most ${amountMinorMax} minor units.`);
  }
  return ok({ amountMinor: sum, currency: a.currency });
}

export function subtractMoney(a: Money, b: Money): Result<Money> {
  if (a.currency !== b.currency) {
    return fail('currency_mismatch', `Cannot subtract ${b.currency} from ${a.currency}.`);
  }
  if (b.amountMinor > a.amountMinor) {
    return fail('insufficient_funds', 'Not enough money.', {
      availableMinor: a.amountMinor,
      requestedMinor: b.amountMinor,
    });
  }
  return ok({ amountMinor: a.amountMinor - b.amountMinor, currency: a.currency });
}

/**
 * floor(amountMinor * numerator / denominator) computed exactly with BigInt, so shares and
 * basis points of large amounts never lose precision.
 */
export function mulDivFloor(amountMinor: number, numerator: number, denominator: number): number {
  return Number((BigInt(amountMinor) * BigInt(numerator)) / BigInt(denominator));
}

/** ceil(amountMinor * numerator / denominator), exactly. */
export function mulDivCeil(amountMinor: number, numerator: number, denominator: number): number {
  const n = BigInt(amountMinor) * BigInt(numerator);
  const d = BigInt(denominator);
  return Number((n + d - 1n) / d);
}

/** Formats minor units as a plain decimal string in major units ("105.00" for USD 10500). */
export function formatMajor(amountMinor: number, currency: CurrencyCode): string {
  const exponent = currencyExponent(currency);
  if (exponent === 0) return String(amountMinor);
  const digits = String(amountMinor).padStart(exponent + 1, '0');
  return `${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}
