import { createRoute, type z } from '@hono/zod-openapi';
import { statusOfCode } from '../errors.ts';
import { ErrorResponse } from '../schemas.ts';

/**
 * Small helpers so each route is declared in a few lines with its request schema, its success
 * schema and the shared error responses — the OpenAPI document comes from these declarations.
 */
const errorTitles: Record<number, string> = {
  400: 'Invalid request',
  401: 'Not authenticated',
  402: 'Not enough money',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict with the current state',
  410: 'Expired',
  413: 'Body too large',
  415: 'Body not JSON',
  422: 'Idempotency key reused',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Unavailable for now; retry with the same Idempotency-Key',
};

const requestIdHeader = {
  'X-Request-Id': {
    description: "This request's id (the client's own if it sent a valid one): quote it to the bank.",
    schema: { type: 'string' as const },
  },
};

/** Headers of error answers: every one has a request id; 429 and 503 say when to retry. */
const errorHeaders = (status: number) => ({
  ...requestIdHeader,
  ...(status === 429 || status === 503
    ? {
        'Retry-After': {
          description: 'Seconds to wait before retrying (with the same Idempotency-Key).',
          schema: { type: 'integer' as const, minimum: 1 },
        },
      }
    : {}),
});

/**
 * Every status the gateway answers errors with, each listing its error codes: derived from
 * `statusOfCode`, the one table the answers come from, so the document cannot miss one. One
 * shared set for every route (a route may not produce all of them).
 */
const errorResponses = Object.fromEntries(
  [...new Set(Object.values(statusOfCode))]
    .sort((a, b) => a - b)
    .map((status) => {
      const codes = Object.entries(statusOfCode)
        .filter(([, mapped]) => mapped === status)
        .map(([code]) => `\`${code}\``);
      const description = `${errorTitles[status] ?? 'Error'}: ${codes.join(', ')}`;
      return [
        status,
        {
          description,
          headers: errorHeaders(status),
          content: { 'application/json': { schema: ErrorResponse } },
        },
      ];
    }),
);

type Security = 'merchant' | 'customer' | 'any' | 'none';

const securityOf: Record<Security, Array<Record<string, string[]>>> = {
  merchant: [{ secretKey: [] }],
  customer: [{ sessionToken: [] }],
  any: [{ secretKey: [] }, { sessionToken: [] }],
  none: [],
};

export const idempotencyHeader = {
  name: 'Idempotency-Key',
  in: 'header' as const,
  required: false,
  description:
    'Makes retries safe: the same key and request return the first result (kept for LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS, 7 days by default). 1-255 printable ASCII characters, no spaces.',
  // As the gateway checks it (bank.ts idempotencyKeyPattern): 400 idempotency_key_invalid.
  schema: { type: 'string' as const, minLength: 1, maxLength: 255, pattern: '^[!-~]+$' },
};

export function jsonRoute<
  M extends 'get' | 'post' | 'delete',
  P extends string,
  B extends z.ZodType | undefined,
  R extends z.ZodType | undefined,
  Q extends z.ZodObject | undefined = undefined,
  Pa extends z.ZodObject | undefined = undefined,
>(spec: {
  method: M;
  path: P;
  tag: string;
  summary: string;
  security: Security;
  body?: B;
  query?: Q;
  params?: Pa;
  response?: R;
  status?: 200 | 201 | 204;
  /**
   * False for a POST that stores no answer to replay: a login (its answer is a secret, kept
   * only hashed) and an invoice check (it changes nothing). Default: true.
   */
  idempotent?: boolean;
}) {
  const status = spec.status ?? 200;
  const idempotent = spec.method === 'post' && spec.idempotent !== false;
  const successHeaders = {
    ...requestIdHeader,
    ...(idempotent
      ? {
          'Idempotent-Replayed': {
            description: "'true' when this is the stored answer of an earlier request with the same key.",
            schema: { type: 'string' as const, enum: ['true'] },
          },
        }
      : {}),
  };
  return createRoute({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    security: securityOf[spec.security],
    ...(idempotent ? { parameters: [idempotencyHeader] } : {}),
    request: {
      ...(spec.body
        ? { body: { required: true, content: { 'application/json': { schema: spec.body } } } }
        : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.params ? { params: spec.params } : {}),
    } as {
      body: B extends z.ZodType ? { content: { 'application/json': { schema: B } } } : undefined;
      query: Q;
      params: Pa;
    },
    responses: {
      [status]: spec.response
        ? {
            description: 'OK',
            headers: successHeaders,
            content: { 'application/json': { schema: spec.response } },
          }
        : { description: 'OK', headers: successHeaders },
      ...errorResponses,
    } as {
      [K in typeof status]: { description: string; content: { 'application/json': { schema: R } } };
    } & typeof errorResponses,
  });
}
