import { createRoute, type z } from '@hono/zod-openapi';
import { ErrorResponse } from '../schemas.ts';

/**
 * Small helpers so each route is declared in a few lines with its request schema, its success
 * schema and the shared error responses — the OpenAPI document comes from these declarations.
 */
const errorResponses = {
  400: { description: 'Invalid request', content: { 'application/json': { schema: ErrorResponse } } },
  401: { description: 'Not authenticated', content: { 'application/json': { schema: ErrorResponse } } },
  403: { description: 'Not allowed', content: { 'application/json': { schema: ErrorResponse } } },
  404: { description: 'Not found', content: { 'application/json': { schema: ErrorResponse } } },
  409: {
    description: 'Conflict with the current state',
    content: { 'application/json': { schema: ErrorResponse } },
  },
  422: { description: 'Idempotency key reused', content: { 'application/json': { schema: ErrorResponse } } },
  429: { description: 'Too many requests', content: { 'application/json': { schema: ErrorResponse } } },
} as const;

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
  description: 'Makes retries safe: the same key and request return the first result.',
  schema: { type: 'string' as const, maxLength: 255 },
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
}) {
  const status = spec.status ?? 200;
  return createRoute({
    method: spec.method,
    path: spec.path,
    tags: [spec.tag],
    summary: spec.summary,
    security: securityOf[spec.security],
    ...(spec.method === 'post' ? { parameters: [idempotencyHeader] } : {}),
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
        ? { description: 'OK', content: { 'application/json': { schema: spec.response } } }
        : { description: 'OK' },
      ...errorResponses,
    } as {
      [K in typeof status]: { description: string; content: { 'application/json': { schema: R } } };
    } & typeof errorResponses,
  });
}
