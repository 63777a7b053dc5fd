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
      // Signed before the transaction (see Invoices.prepare); a replayed key discards it.
      const merchant = await bank.read((reader) => reader.getMerchant(principal.customerId));
      const prepared = await invoices.prepare(merchant, input).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      const result = await bank.mutate(principal.customerId, await idempotencyOf(c), async (unit) => {
        if (!prepared.ok) throw prepared.error;
        const { record, payeeName } = await invoices.insert(unit.tx, prepared.value);
        return { status: 201, body: invoiceView(record, payeeName, true, bank.commission) };
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
      const { bank } = c.get('gateway');
      const body = await bank.read(async (reader) => {
        const record = await reader.getInvoice(id);
        if (!record || record.merchantId !== principal.customerId) {
          throw new LockstepError('not_found', 'No such invoice.');
        }
        const merchant = await reader.getMerchant(record.merchantId);
        return invoiceView(record, merchant?.name ?? '', true, bank.commission);
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
      idempotent: false,
      body: VerifyInvoiceRequest,
      response: Invoice,
    }),
    async (c) => {
      const { token } = c.req.valid('json');
      const { bank, invoices } = c.get('gateway');
      // The signature first, outside the store's read batch (it is async crypto).
      const claims = await invoices.verifySignature(token);
      const body = await bank.read(async (reader) => {
        const { record, payeeName } = await invoices.match(reader, claims);
        if (record.temporaryAccountCode !== null) {
          throw new LockstepError(
            'invoice_already_used',
            'This invoice has already been used: a temporary account was opened for it.',
          );
        }
        return invoiceView(record, payeeName, false, bank.commission);
      });
      return c.json(body, 200);
    },
  );

  app.get('/.well-known/jwks.json', async (c) => {
    await c.get('gateway').keys.refreshIfStale();
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(c.get('gateway').keys.publicJwks());
  });
}
