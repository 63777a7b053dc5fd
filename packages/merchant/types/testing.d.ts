/**
 * Declarations of `@lockstep/merchant/testing` for the published package (the implementation
 * bundles the gateway, whose sources sit outside this package's declaration build).
 * `test/merchant/testing-types.test-d.ts` checks that they match the implementation.
 */
import type { TemporaryAccount } from './index.js';

export interface CommissionSchedule {
  creation: Partial<Record<string, { flatMinor: number; basisPoints: number }>>;
  withdrawal: Partial<Record<string, { flatMinor: number; basisPoints: number }>>;
}

export interface MockGatewayOptions {
  baseUrl?: string;
  /** Default: the demo bank's (¥100 to open an account, 1% of a withdrawal); `{ creation: {}, withdrawal: {} }` for none. */
  commission?: CommissionSchedule;
  buyerBalanceMinor?: number;
  allowedOrigins?: string[];
}

/**
 * The demo buyer. A refusal throws as the SDK's calls do: a `LockstepApiError` of its family
 * (`InsufficientFundsError`, `StateConflictError`...) with the gateway's `code` and `details`.
 */
export interface MockBuyer {
  readonly customerId: string;
  /** With `{ later: true }` the buyer opens the deal to pay later (rule 7): it awaits funds until `payIn`. */
  pay(invoiceToken: string, options?: { later?: boolean }): Promise<string>;
  /** Pays into an account awaiting funds (default: all still due); funds it once it holds its amount. */
  payIn(code: string, amountMinor?: number): Promise<TemporaryAccount>;
  release(code: string): Promise<TemporaryAccount>;
  reject(code: string, reason?: string): Promise<TemporaryAccount>;
  withdraw(code: string): Promise<TemporaryAccount>;
  balanceMinor(): Promise<number>;
}

export interface MockGateway {
  baseUrl: string;
  secretKey: string;
  publishableKey: string;
  // msw is ESM only: a CommonJS consumer's checker must be told to resolve it as ESM (TS1541).
  handlers: ReturnType<typeof import('msw', { with: { 'resolution-mode': 'import' }})['http']['all']>[];
  buyer: MockBuyer;
  merchantBalanceMinor(): Promise<number>;
  /** Moves the mock bank's clock forward and applies the deadlines then due. */
  advanceTime(ms: number): Promise<{ passed: number }>;
  /** The mock bank's clock: real time plus what `advanceTime` added. */
  now(): Date;
  /** The bank decides a dispute (a deal the buyer rejected) for the buyer or the seller. */
  resolveDispute(code: string, winner: 'buyer' | 'seller', reason?: string): Promise<void>;
  /**
   * The account's events as the gateway delivers them to a webhook endpoint, signed with the
   * mock bank's key (verifiable with `createWebhookVerifier({ baseUrl: mock.baseUrl, now: mock.now })`).
   */
  deliveries(code: string): Promise<Array<{ body: string; headers: Record<string, string> }>>;
  /** The in-memory gateway itself (its internals are not part of the published types). */
  gateway: unknown;
  close(): Promise<void>;
}

export declare function createMockGateway(options?: MockGatewayOptions): Promise<MockGateway>;
