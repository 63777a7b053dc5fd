import type { OpenAPIHono } from '@hono/zod-openapi';
import { LockstepError } from '@lockstep/core';
import type { Context } from 'hono';
import type { Gateway } from '../gateway.ts';
import {
  exactRequestHash,
  type Idempotency,
  type MutationResult,
  type Principal,
  requestHash,
} from '../service/bank.ts';

/** Context variables, declared once (Hono's `Env['Variables']`). */
export interface GatewayEnv {
  Variables: {
    requestId: string;
    gateway: Gateway;
    /** Set by the `authenticate` middleware before validation, so 401 comes before 400. */
    principal: Principal | undefined;
  };
}

export type GatewayApp = OpenAPIHono<GatewayEnv>;

/** The bearer token of the request (Authorization header only), if any. */
export function bearerToken(c: Context<GatewayEnv>): string | undefined {
  const header = c.req.header('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1];
  }
  return undefined;
}

/** Resolves a bearer token: a merchant's secret key or a customer's session token. */
export async function resolvePrincipal(
  c: Context<GatewayEnv>,
  token: string | undefined,
): Promise<Principal> {
  const { auth } = c.get('gateway');
  if (!token) {
    throw new LockstepError('unauthenticated', 'Send Authorization: Bearer <secret key or session token>.');
  }
  if (token.startsWith('sk_')) return auth.secretKey(token);
  if (token.startsWith('cs_')) return (await auth.session(token)).principal;
  throw new LockstepError('unauthenticated', 'Use a secret API key (sk_...) or a session token (cs_...).');
}

/** A merchant (secret key) or a customer (session token) — whichever the token is. */
export async function anyPrincipal(c: Context<GatewayEnv>, token?: string): Promise<Principal> {
  return c.get('principal') ?? resolvePrincipal(c, token ?? bearerToken(c));
}

export async function merchantPrincipal(c: Context<GatewayEnv>): Promise<Principal & { kind: 'merchant' }> {
  const principal = await anyPrincipal(c);
  if (principal.kind !== 'merchant') {
    throw new LockstepError('unauthenticated', 'This endpoint needs a secret API key (sk_...).');
  }
  return principal;
}

export async function customerPrincipal(c: Context<GatewayEnv>): Promise<Principal & { kind: 'customer' }> {
  const principal = await anyPrincipal(c);
  if (principal.kind !== 'customer') {
    throw new LockstepError('unauthenticated', 'This endpoint needs a customer session token (cs_...).');
  }
  return principal;
}

/** The idempotency key and request hash of a POST, if the client sent a key. */
export async function idempotencyOf(c: Context<GatewayEnv>): Promise<Idempotency | undefined> {
  const key = c.req.header('idempotency-key');
  if (key === undefined) return undefined;
  const body = c.req.method === 'GET' ? '' : await c.req.text();
  const { method, path } = c.req;
  return {
    key,
    requestHash: requestHash(method, path, body),
    exactBytesHash: () => exactRequestHash(method, path, body),
  };
}

/** Sends a mutation's answer (the JSON stored for replays, not serialised again), marking replays. */
export function answer<T>(c: Context<GatewayEnv>, result: MutationResult<T>) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (result.replayed) headers['Idempotent-Replayed'] = 'true';
  // Typed as the JSON answer it is, so routes still check against their OpenAPI responses.
  return c.body(result.bodyJson, result.status as 200, headers) as unknown as ReturnType<
    typeof c.json<T & object, 200>
  >;
}
