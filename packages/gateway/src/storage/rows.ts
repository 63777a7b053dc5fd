import type { CurrencyCode } from '@lockstep/core';
import type {
  ApiKeyRecord,
  CustomerRecord,
  IdempotencyRecord,
  InvoiceRecord,
  MerchantRecord,
  NewOutboxRecord,
  OutboxRecord,
  SessionRecord,
  SigningKeyRecord,
  StoredEvent,
  WebhookEndpointRecord,
} from './store.ts';

/**
 * Row → record mapping shared by both stores. Column names are the same in SQLite and
 * PostgreSQL; PostgreSQL returns BIGINT as a string and booleans as booleans, hence `Number()`
 * and the tolerant `enabled`.
 */
export type Row = Record<string, unknown>;

export function customerOf(row: Row): CustomerRecord {
  return {
    id: String(row.id),
    userId: String(row.user_id),
    displayName: String(row.display_name),
    passwordHash: String(row.password_hash),
    failedLoginCount: Number(row.failed_login_count),
    loginLockedUntil: row.login_locked_until === null ? null : String(row.login_locked_until),
    createdAt: String(row.created_at),
  };
}

export function merchantOf(row: Row): MerchantRecord {
  return {
    customerId: String(row.customer_id),
    name: String(row.name),
    allowedOrigins: JSON.parse(String(row.allowed_origins)) as string[],
    createdAt: String(row.created_at),
  };
}

export function usualOf(row: Row) {
  return {
    id: String(row.id),
    ownerId: String(row.owner_id),
    currency: String(row.currency) as CurrencyCode,
    name: String(row.name),
    createdAt: String(row.created_at),
    balanceMinor: Number(row.balance_minor),
  };
}

export function apiKeyOf(row: Row): ApiKeyRecord {
  return {
    id: String(row.id),
    merchantId: String(row.merchant_id),
    kind: String(row.kind) as ApiKeyRecord['kind'],
    prefix: String(row.prefix),
    keyHash: String(row.key_hash),
    createdAt: String(row.created_at),
    revokedAt: row.revoked_at === null ? null : String(row.revoked_at),
  };
}

export function invoiceOf(row: Row): InvoiceRecord {
  return {
    id: String(row.id),
    merchantId: String(row.merchant_id),
    amountMinor: Number(row.amount_minor),
    currency: String(row.currency) as CurrencyCode,
    orderReference: String(row.order_reference),
    description: String(row.description),
    payeeContact: String(row.payee_contact),
    createdAt: String(row.created_at),
    expiresAt: String(row.expires_at),
    token: String(row.token),
    temporaryAccountCode: row.temporary_account_code === null ? null : String(row.temporary_account_code),
  };
}

export function eventOf(row: Row): StoredEvent {
  return {
    id: String(row.id),
    accountCode: String(row.code),
    seq: Number(row.seq),
    type: String(row.type) as StoredEvent['type'],
    at: String(row.at),
    actor: String(row.actor),
    data: JSON.parse(String(row.data)),
  };
}

export function endpointOf(row: Row): WebhookEndpointRecord {
  return {
    id: String(row.id),
    merchantId: String(row.merchant_id),
    url: String(row.url),
    enabled: row.enabled === true || Number(row.enabled) === 1,
    createdAt: String(row.created_at),
  };
}

/**
 * SQL, both stores: whether the delivery `row` (an alias or the table's name) waits behind an
 * unfinished earlier delivery of its endpoint and account.
 */
export function waitsBehindUnfinished(row: string): string {
  return `EXISTS (SELECT 1 FROM webhook_outbox e
    WHERE e.endpoint_id = ${row}.endpoint_id AND e.account_code = ${row}.account_code
      AND e.seq < ${row}.seq AND e.delivered_at IS NULL)`;
}

/** The columns of a queued delivery, the order of `outboxValues` (`parked` is the store's). */
export const outboxColumns =
  'id, endpoint_id, event_id, account_code, seq, attempt_count, next_attempt_at, delivered_at, last_error';

export function outboxValues(record: NewOutboxRecord): Array<string | number | null> {
  return [
    record.id,
    record.endpointId,
    record.eventId,
    record.accountCode,
    record.seq,
    record.attemptCount,
    record.nextAttemptAt,
    record.deliveredAt,
    record.lastError,
  ];
}

export function outboxOf(row: Row): OutboxRecord {
  return {
    id: String(row.id),
    endpointId: String(row.endpoint_id),
    eventId: String(row.event_id),
    accountCode: String(row.account_code),
    seq: Number(row.seq),
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: String(row.next_attempt_at),
    deliveredAt: row.delivered_at === null ? null : String(row.delivered_at),
    lastError: row.last_error === null ? null : String(row.last_error),
    parked: row.parked === true || row.parked === 1,
  };
}

export function sessionOf(row: Row): SessionRecord {
  return {
    tokenHash: String(row.token_hash),
    customerId: String(row.customer_id),
    csrfTokenHash: String(row.csrf_token_hash),
    createdAt: String(row.created_at),
    expiresAt: String(row.expires_at),
  };
}

export function signingKeyOf(row: Row): SigningKeyRecord {
  return {
    kid: String(row.kid),
    alg: String(row.alg) as SigningKeyRecord['alg'],
    publicJwk: JSON.parse(String(row.public_jwk)),
    privateJwk: JSON.parse(String(row.private_jwk)),
    createdAt: String(row.created_at),
    retiresAt: String(row.retires_at),
    expiresAt: String(row.expires_at),
  };
}

export function idempotencyOf(row: Row): IdempotencyRecord {
  return {
    scope: String(row.scope),
    key: String(row.key),
    requestHash: String(row.request_hash),
    statusCode: Number(row.status_code),
    responseBody: String(row.response_body),
    createdAt: String(row.created_at),
  };
}

export function nullableText(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}
