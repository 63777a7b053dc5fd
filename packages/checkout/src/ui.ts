/**
 * What the checkout iframe and the bank's confirmation window share: building DOM, and calling
 * the gateway's JSON API on their own origin with a bearer session that lives only in memory.
 */
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child) element.append(child);
  return element;
}

export function alertBox(text: string): HTMLElement {
  return h('p', { class: 'alert', role: 'alert' }, text);
}

export interface ApiError {
  code: string;
  message: string;
}

export interface AccountView {
  code: string;
  currency: string;
  balanceMinor: number;
  requiredMinor: number;
  status: 'awaiting_funds' | 'funded' | 'dissolved';
  /** What the viewer may move out now (the move rule): after a refund, the buyer's money. */
  movableMinor?: number;
  /** A deal is released once shipped; a fractional account has no shipping. */
  mode: 'deal' | 'fractional';
  /** What the deal still takes paid in (null for a fractional account; absent from older gateways). */
  amountDueMinor?: number | null;
  /** The bank's creation fee still to pay with the first pay-in (absent from older gateways). */
  creationFeeDueMinor?: number;
  parties: Array<{
    customerId: string;
    displayName: string;
    role: string;
    lock: string;
    lockPpm: number;
    group?: string | null;
  }>;
  /** Whose locks hold money in: a member outside a named group holds nobody. */
  releasePolicy?: { kind: string; group?: string };
  shipment: { carrier: string; trackingNumber: string } | null;
  verdict: 'accepted' | 'rejected' | null;
  /** Absent from a gateway older than deadlines. */
  deadlines?: {
    shipBy: string | null;
    verdictBy: string | null;
    shipMissed: boolean;
    /** Absent from a gateway older than it. */
    verdictMissed?: boolean;
    payBy?: string | null;
    payMissed?: boolean;
    /** The seller cancelled it before shipping (absent from older gateways). */
    cancelled?: boolean;
  };
  dispute?: { resolvedFor: 'buyer' | 'seller' } | null;
  version: number;
}

export async function callApi<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  options: { token?: string; body?: unknown; idempotencyKey?: string } = {},
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const response = await fetch(path, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (response.status === 204) return undefined as T;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error: ApiError = payload?.error ?? { code: 'internal_error', message: `HTTP ${response.status}` };
    throw Object.assign(new Error(error.message), { code: error.code, status: response.status });
  }
  return payload as T;
}

export function codeOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : 'network_error';
}

/**
 * Messages between the order iframe and the confirmation window it opens. Both are on the
 * gateway's origin: each side accepts a message only from that exact origin and from the one
 * window it expects, and posts only to that origin.
 */
export const confirmSource = 'lockstep-confirm';

export type Decision = 'accept' | 'reject';
/** What the bank's window confirms: a decision on the order page, or a payment. */
export type BankAction = Decision | 'pay';

export type ConfirmRequest =
  | {
      source: typeof confirmSource;
      type: 'request';
      action: Decision;
      code: string;
      /** The seller of the deal, shown in the window: the buyer sees whose deal it decides. */
      payeeName: string;
      amountText: string;
      token: string;
    }
  | {
      source: typeof confirmSource;
      type: 'request';
      action: 'pay';
      invoice: string;
      fundFrom?: string;
      /** Open the deal awaiting funds: nothing is taken now (rule 7). Never with `fundFrom`. */
      payLater?: boolean;
      /** The name of the account paid from, as the buyer chose it (shown in the window). */
      accountName?: string;
      /** The iframe's key for this payment: reopening the window after a lost answer pays once. */
      idempotencyKey: string;
      payeeName: string;
      orderReference: string;
      amountText: string;
      /** The bank's fee on top of the amount, and the two together, when there is a fee. */
      feeText?: string;
      totalText?: string;
      token: string;
    };

export type ConfirmMessage =
  | { source: typeof confirmSource; type: 'ready' }
  | ConfirmRequest
  | { source: typeof confirmSource; type: 'done'; action: BankAction; account: AccountView }
  | { source: typeof confirmSource; type: 'failed'; action: BankAction; code: string }
  | { source: typeof confirmSource; type: 'cancelled' }
  /** From the window: it is calling the bank (until `done` or `failed`). */
  | { source: typeof confirmSource; type: 'busy' }
  /** From the iframe: the decision is made or moot; an idle window closes. */
  | { source: typeof confirmSource; type: 'settled' };

/** Whether a failed call may be tried again with the same key (it may not have happened). */
export function isTransient(code: string): boolean {
  return (
    code === 'network_error' ||
    code === 'service_unavailable' ||
    code === 'internal_error' ||
    code === 'idempotency_key_in_use' // our own earlier attempt is still going through
  );
}

export function isConfirmMessage(value: unknown): value is ConfirmMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { source?: unknown }).source === confirmSource &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
