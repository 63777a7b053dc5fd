/**
 * @lockstep/core — the escrow domain of Lockstep: money in minor units, temporary accounts with
 * mutual locks and the move rule. No I/O: the gateway's HTTP and storage layers call into this.
 *
 * @example
 * ```ts
 * import { createAccount, setLock, withdraw, noCommission } from '@lockstep/core';
 * const created = createAccount({ code: '100', by: 'mizuta', now, currency: 'JPY',
 *   requiredMinor: 10500, parties: [{ customerId: 'mizuta', role: 'buyer' },
 *   { customerId: 'ibm', role: 'seller' }], commission: noCommission });
 * ```
 */
export {
  type AccountEvent,
  type AccountEventType,
  type AccountMode,
  type AccountStatus,
  accept,
  accountEventTypes,
  amountDueMinor,
  awaitsShipment,
  blockingParties,
  type CommandOutcome,
  type CreateAccountInput,
  checkFunds,
  createAccount,
  type Deadlines,
  type DepositInput,
  dealIsOff,
  deposit,
  dissolve,
  heldFromOthersMinor,
  heldMinor,
  type LedgerAccountKey,
  ledgerKey,
  lockOnRefused,
  type MarkShippedInput,
  markShipped,
  movableMinor,
  type Party,
  type PartyRole,
  type PartySpec,
  payersRefusal,
  type ReleasePolicy,
  type RemitInput,
  reject,
  remit,
  requireLive,
  returnsToPayers,
  type SetLockInput,
  type Shipment,
  setLock,
  shipRefused,
  shortfallMinor,
  type TemporaryAccount,
  type Transfer,
  type UsualAccountView,
  type Verdict,
  type WithdrawInput,
  withdraw,
} from './account.ts';
export {
  type CommissionSchedule,
  creationFeeFor,
  type FeeRule,
  feeFor,
  noCommission,
  validateFeeRule,
} from './commission.ts';
export {
  bankActor,
  cancelDeal,
  cancelRefused,
  type DeadlineNotice,
  type DeadlinePolicy,
  deadlineNotice,
  defaultDeadlinePolicy,
  nextDeadline,
  passDeadlines,
  startDeadlines,
  underDeadlines,
} from './deadlines.ts';
export {
  type DisputeResolution,
  type DisputeWinner,
  resolveDispute,
} from './disputes.ts';
export {
  type ErrorCode,
  type ErrorDetails,
  errorCodes,
  fail,
  failWith,
  isLockstepError,
  LockstepError,
  ok,
  type Refusal,
  type Result,
  refusal,
  unwrap,
} from './errors.ts';
export {
  type AmountRule,
  addMoney,
  amountMinorMax,
  type CurrencyCode,
  currencies,
  currencyExponent,
  formatMajor,
  isCurrencyCode,
  type Money,
  money,
  mulDivCeil,
  mulDivFloor,
  parseAmountMinor,
  parseCurrency,
  subtractMoney,
} from './money.ts';
export { formatLockShare, lockPpmFull, parseLockShare } from './share.ts';
