import { createAccount, noCommission, type Result, type TemporaryAccount } from '@lockstep/core';

/** A command's value, or the test fails with the domain's error. */
export function value<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

/** A funded ¥5,000 deal of Mizuta (buyer) with IBM (seller), paid from Mizuta's ¥10,000. */
export function fundedDeal(now: string, mode: 'deal' | 'fractional' = 'deal'): TemporaryAccount {
  return value(
    createAccount({
      code: 'ta_1',
      by: 'mizuta',
      now,
      currency: 'JPY',
      requiredMinor: 5_000,
      mode,
      parties: [
        { customerId: 'mizuta', role: 'buyer' },
        { customerId: 'ibm', role: 'seller' },
      ],
      fundFrom: { id: 'acc-m', ownerId: 'mizuta', currency: 'JPY', balanceMinor: 10_000 },
      commission: noCommission,
    }),
  ).account;
}
