import { LockstepError } from '@lockstep/core';
import { clientSource } from '../client-source.ts';
import { bearerToken, customerPrincipal, type GatewayApp, resolvePrincipal } from '../context.ts';
import { Customer, LoginRequest, LoginResponse } from '../schemas.ts';
import { jsonRoute } from './define.ts';

/** Customer login and sessions (Drawing 6). */
export function customerRoutes(app: GatewayApp): void {
  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/sessions',
      tag: 'Customers',
      summary: 'Log in with user ID and password',
      security: 'none',
      idempotent: false,
      body: LoginRequest,
      response: LoginResponse,
      status: 201,
    }),
    async (c) => {
      const { userId, password } = c.req.valid('json');
      const gateway = c.get('gateway');
      const session = await gateway.auth.login(userId, password, clientSource(c, gateway.trustedProxyHops));
      return c.json(
        {
          object: 'session' as const,
          token: session.token,
          expiresAt: session.expiresAt,
          customer: {
            object: 'customer' as const,
            id: session.customer.id,
            userId: session.customer.userId,
            displayName: session.customer.displayName,
          },
        },
        201,
      );
    },
  );

  app.openapi(
    jsonRoute({
      method: 'delete',
      path: '/v1/sessions/current',
      tag: 'Customers',
      summary: 'Log out (ends the session)',
      security: 'customer',
      status: 204,
    }),
    async (c) => {
      const token = bearerToken(c);
      try {
        if ((await resolvePrincipal(c, token)).kind !== 'customer') {
          throw new LockstepError('forbidden', 'This endpoint is for customers (session token).');
        }
      } catch (error) {
        // A logout retried after its answer was lost finds its session gone: what it asked for.
        const gone = error instanceof LockstepError && error.code === 'unauthenticated';
        if (!(gone && token?.startsWith('cs_'))) throw error;
        return c.body(null, 204) as never;
      }
      await c.get('gateway').auth.logout(token as string);
      return c.body(null, 204) as never;
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/me',
      tag: 'Customers',
      summary: 'The logged-in customer',
      security: 'customer',
      response: Customer,
    }),
    async (c) => {
      const principal = await customerPrincipal(c);
      const customer = await c.get('gateway').bank.read((reader) => reader.getCustomer(principal.customerId));
      if (!customer) throw new LockstepError('unauthenticated', 'Your session has ended.');
      return c.json(
        {
          object: 'customer' as const,
          id: customer.id,
          userId: customer.userId,
          displayName: customer.displayName,
        },
        200,
      );
    },
  );
}
