import type { CurrencyCode } from './money.ts';
import { amountMinorMax, mulDivFloor } from './money.ts';

/** One fee: a flat part in minor units plus a proportional part in basis points (1/100 %). */
export interface FeeRule {
  flatMinor: number;
  basisPoints: number;
}

/**
 * The bank's commission schedule ([0036]): a fee charged to the buyer's usual account when a
 * temporary account is funded at creation (or on the buyer's first pay-in), and a fee kept from
 * what the seller withdraws. Flat parts are per currency because ¥100 and $100 differ.
 */
export interface CommissionSchedule {
  creation: Partial<Record<CurrencyCode, FeeRule>>;
  withdrawal: Partial<Record<CurrencyCode, FeeRule>>;
}

export const noCommission: CommissionSchedule = { creation: {}, withdrawal: {} };

/**
 * The fee for moving `amountMinor`, rounded down (in the customer's favour) and never more
 * than the amount itself for withdrawals (`capAtAmount`).
 */
export function feeFor(rule: FeeRule | undefined, amountMinor: number, capAtAmount: boolean): number {
  if (!rule) return 0;
  const fee = rule.flatMinor + mulDivFloor(amountMinor, rule.basisPoints, 10_000);
  const bounded = Math.min(fee, amountMinorMax);
  return capAtAmount ? Math.min(bounded, amountMinor) : bounded;
}

/**
 * The bank's fee to the buyer for a deal of `amountMinor` ([0036]), charged with the deal's
 * funding (at creation, or with the buyer's first pay-in): what a buyer pays is the amount plus
 * this. Told before paying (the invoice's terms), so the buyer's account is chosen for both.
 */
export function creationFeeFor(
  schedule: CommissionSchedule,
  currency: CurrencyCode,
  amountMinor: number,
): number {
  return feeFor(schedule.creation[currency], amountMinor, false);
}

export function validateFeeRule(rule: FeeRule): boolean {
  return (
    Number.isSafeInteger(rule.flatMinor) &&
    rule.flatMinor >= 0 &&
    rule.flatMinor <= amountMinorMax &&
    Number.isInteger(rule.basisPoints) &&
    rule.basisPoints >= 0 &&
    rule.basisPoints <= 10_000
  );
}
