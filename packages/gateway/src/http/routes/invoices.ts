import { z } from '@hono/zod-openapi';
import { LockstepError } from '@lockstep/core';
import { answer, type GatewayApp, idempotencyOf, merchantPrincipal } from '../context.ts';
import { CreateInvoiceRequest, Invoice, VerifyInvoiceRequest } from '../schemas.ts';
import { invoiceView } from '../views.ts';
import { jsonRoute } from './define.ts';

/** Signed invoices (step 102) and their public keys. */
export function invoiceRoutes(app: GatewayApp): void {
  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/invoices',
      tag: 'Invoices',
      summary: 'Issue a signed invoice',
      security: 'merchant',
      body: CreateInvoiceRequest,
      response: Invoice,
      status: 201,
    }),
    async (c) => {
      const principal = await merchantPrincipal(c);
      const input = c.req.valid('json');
      const { bank, invoices } = c.get('gateway');
      const result = await bank.mutate(principal.customerId, await idempotencyOf(c), async (unit) => {
        const { record, payeeName } = await invoices.create(unit.tx, principal.customerId, input);
        return { status: 201, body: invoiceView(record, payeeName, true) };
      });
      return answer(c, result);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'get',
      path: '/v1/invoices/{id}',
      tag: 'Invoices',
      summary: 'Retrieve one of your invoices',
      security: 'merchant',
      params: z.object({
        id: z
          .string()
          .max(64)
          .openapi({ param: { name: 'id', in: 'path' } }),
      }),
      response: Invoice,
    }),
    async (c) => {
      const principal = await merchantPrincipal(c);
      const { id } = c.req.valid('param');
      const body = await c.get('gateway').bank.read(async (reader) => {
        const record = await reader.getInvoice(id);
        if (!record || record.merchantId !== principal.customerId) {
          throw new LockstepError('not_found', 'No such invoice.');
        }
        const merchant = await reader.getMerchant(record.merchantId);
        return invoiceView(record, merchant?.name ?? '', true);
      });
      return c.json(body, 200);
    },
  );

  app.openapi(
    jsonRoute({
      method: 'post',
      path: '/v1/invoices/verify',
      tag: 'Invoices',
      summary: 'Verify an invoice token and show its terms (anyone; used by the widget)',
      security: 'none',
      body: VerifyInvoiceRequest,
      response: Invoice,
    }),
    async (c) => {
      const { token } = c.req.valid('json');
      const { bank, invoices } = c.get('gateway');
      const body = await bank.read(async (reader) => {
        const { record, payeeName } = await invoices.verify(reader, token);
        if (record.temporaryAccountCode !== null) {
          throw new LockstepError('invoice_already_used', 'This invoice has already been paid.');
        }
        return invoiceView(record, payeeName, false);
      });
      return c.json(body, 200);
    },
  );

  app.get('/.well-known/jwks.json', (c) => {
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(c.get('gateway').keys.publicJwks());
  });
}
