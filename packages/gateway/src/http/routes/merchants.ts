import { z } from '@hono/zod-openapi';
import { LockstepError } from '@lockstep/core';
import { newId } from '../../ids.ts';
import { isPrivateHost } from '../../service/egress.ts';
import { answer, anyPrincipal, type GatewayApp, idempotencyOf, merchantPrincipal } from '../context.ts';
import {
  CreateWebhookEndpointRequest,
  EmptyRequest,
  EventList,
  QueryInteger,
  WebhookEndpoint,
  WebhookEndpointList,
} from '../schemas.ts';
import { eventView } from '../views.ts';
import { jsonRoute } from './define.ts';

const endpointView = (record: { id: string; url: string; enabled: boolean; createdAt: string }) => ({
  object: 'webhook_endpoint' as const,
  id: record.id,
  url: record.url,
  enabled: record.enabled,
  createdAt: record.createdAt,
});

/** Webhook endpoints and the event feed of the caller's accounts (step 114). */
export function merchantRoutes(app: GatewayApp): void {
  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/webhook-endpoints',
      tag: 'Webhooks',
      summary: 'Register an endpoint that receives signed events',
      security: 'merchant',
      body: CreateWebhookEndpointRequest,
      response: WebhookEndpoint,
      status: 201,
    }),
    async (c) => {
      const principal = await merchantPrincipal(c);
      const { url } = c.req.valid('json');
      const { bank, allowPrivateWebhookUrls } = c.get('gateway');
      if (!allowPrivateWebhookUrls && isPrivateHost(new URL(url).hostname)) {
        throw new LockstepError(
          'validation_failed',
          'A webhook URL must be a public address: loopback, private and link-local hosts are refused.',
          { field: 'url' },
        );
      }
      const result = await bank.mutate(principal.customerId, await idempotencyOf(c), async (unit) => {
        const record = {
          id: newId('whe'),
          merchantId: principal.customerId,
          url,
          enabled: true,
          createdAt: bank.now(),
        };
        await unit.tx.insertWebhookEndpoint(record);
        return { status: 201, body: endpointView(record) };
      });
      return answer(c, result);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/webhook-endpoints',
      tag: 'Webhooks',
      summary: 'List your webhook endpoints',
      security: 'merchant',
      response: WebhookEndpointList,
    }),
    async (c) => {
      const principal = await merchantPrincipal(c);
      const records = await c
        .get('gateway')
        .bank.read((reader) => reader.listWebhookEndpoints(principal.customerId));
      return c.json({ object: 'list' as const, data: records.map(endpointView) }, 200);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/webhook-endpoints/{id}/disable',
      tag: 'Webhooks',
      summary: 'Stop deliveries to an endpoint',
      security: 'merchant',
      params: z.object({
        id: z
          .string()
          .max(64)
          .openapi({ param: { name: 'id', in: 'path' } }),
      }),
      body: EmptyRequest,
      response: WebhookEndpoint,
    }),
    async (c) => {
      const principal = await merchantPrincipal(c);
      const { id } = c.req.valid('param');
      const { bank } = c.get('gateway');
      const result = await bank.mutate(principal.customerId, await idempotencyOf(c), async (unit) => {
        const changed = await unit.tx.setWebhookEndpointEnabled(id, principal.customerId, false);
        const record = (await unit.tx.listWebhookEndpoints(principal.customerId)).find((e) => e.id === id);
        if (!changed || !record) throw new LockstepError('not_found', 'No such webhook endpoint.');
        return { status: 200, body: endpointView(record) };
      });
      return answer(c, result);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/events',
      tag: 'Webhooks',
      summary: 'Events of your temporary accounts, in commit order',
      security: 'any',
      query: z.object({
        after: z.string().max(64).optional(),
        limit: QueryInteger(1, 500).optional(),
      }),
      response: EventList,
    }),
    async (c) => {
      const principal = await anyPrincipal(c);
      const query = c.req.valid('query');
      const events = await c.get('gateway').bank.read((reader) =>
        reader.listEventsForCustomer(principal.customerId, {
          afterId: query.after,
          limit: query.limit ?? 100,
        }),
      );
      return c.json({ object: 'list' as const, data: events.map(eventView) }, 200);
    },
  );
}
