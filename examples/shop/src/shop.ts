import { randomUUID } from 'node:crypto';
import {
  dealMismatches,
  LockConflictError,
  Lockstep,
  StateConflictError,
  type TemporaryAccount,
} from '@lockstep/merchant';
import { createWebhookVerifier } from '@lockstep/merchant/webhooks';
import { type Context, Hono } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { getCookie, setCookie } from 'hono/cookie';
import { csrf } from 'hono/csrf';
import { html, raw } from 'hono/html';
import { type Order, OrderBook, type OrderStatus, statusText } from './orders.ts';

/**
 * The example shop. Its backend uses only `@lockstep/merchant`; its pages use only the
 * checkout widget. Everything that moves money is driven by verified webhooks:
 *   account.created  → lock our side and check the amount (ensureFunded, steps 115-118)
 *   account.funded   → check again after the buyer paid in the rest
 *   deal.accepted    → the buyer released: withdraw (step 123)
 *   deal.rejected    → the buyer reported a problem: the order is disputed
 *   dispute.resolved → the bank decided it; for us: withdraw (for the buyer: refunding)
 *   deal.cancelled, deadline.passed → our cancel, a missed pay deadline, or our missed ship
 *                      deadline (the bank refuses a late shipment): refunding, or cancelled
 *   account.dissolved→ closes a refunded or cancelled order
 */
type InvoiceCurrency = Parameters<Lockstep['invoices']['create']>[0]['currency'];

/** How long past its expiry an unpaid order's invoice is replaced (clocks differ a little). */
const reissueAfterMs = 5 * 60 * 1000;

export const catalog = [
  { id: 'tea', title: 'Uji green tea, 100 g', amountMinor: 10_500, currency: 'JPY' },
  { id: 'teapot', title: 'Tokoname teapot', amountMinor: 32_000, currency: 'JPY' },
  { id: 'cups', title: 'Pair of tea cups', amountMinor: 4_800, currency: 'JPY' },
] as const;

export interface ShopOptions {
  gatewayUrl: string;
  secretKey: string;
  publishableKey: string;
  /** The shop's own public URL (for its webhook endpoint). */
  publicUrl: string;
  databasePath: string;
  adminPassword: string;
}

export function createShop(options: ShopOptions) {
  const lockstep = new Lockstep({ apiKey: options.secretKey, baseUrl: options.gatewayUrl });
  const verifier = createWebhookVerifier({ baseUrl: options.gatewayUrl });
  const orders = new OrderBook(options.databasePath);
  const app = new Hono();
  // Requests in progress: `close` lets them finish before it closes the order book. A webhook
  // still being handled when the database closed under it failed half-way ("database is not
  // open"), its withdrawal made and its order not marked.
  let inFlight = 0;
  let idle: (() => void) | undefined;
  let closing = false;
  app.use(async (c, next) => {
    // Once closing, nothing new starts: a webhook is delivered again later, a buyer retries.
    if (closing) {
      c.header('Retry-After', '5');
      return c.text('The shop is restarting; try again in a moment.', 503);
    }
    inFlight++;
    try {
      await next();
    } finally {
      inFlight--;
      if (inFlight === 0) idle?.();
    }
  });
  /**
   * Starts nothing new (503), waits (at most `graceMs`) for the requests in progress, then closes
   * the order book.
   */
  let closed: Promise<void> | undefined;
  const close = (graceMs = 10_000): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((resolve) => {
            idle = resolve;
          }),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      orders.close();
    })());
  const yen = (order: { amountMinor: number; currency: string }) =>
    new Intl.NumberFormat('en', { style: 'currency', currency: order.currency }).format(order.amountMinor);

  app.get('/', (c) =>
    c.html(
      page(
        'Tea shop',
        html`<h1>Tea shop</h1>
          <ul class="catalog">
            ${catalog.map(
              (item) => html`<li>
                <form method="post" action="/checkout">
                  <input type="hidden" name="item" value="${item.id}" />
                  <span>${item.title}</span> <strong>${yen(item)}</strong>
                  <button type="submit">Buy</button>
                </form>
              </li>`,
            )}
          </ul>
          <p><a href="/orders">Your orders</a> · <a href="/admin">Shop admin</a></p>`,
      ),
    ),
  );

  // Step 101-102: the order, and the gateway's signed invoice for it.
  app.post('/checkout', async (c) => {
    const form = await c.req.parseBody();
    const item = catalog.find((candidate) => candidate.id === form.item);
    if (!item) return c.text('No such item', 404);
    const orderId = `ord_${randomUUID().slice(0, 8)}`;
    const invoice = await issueInvoice(item, orderId, `invoice-${orderId}`);
    orders.insert({
      id: orderId,
      itemId: item.id,
      title: item.title,
      amountMinor: item.amountMinor,
      currency: item.currency,
      status: 'awaiting_payment',
      invoiceId: invoice.id,
      invoiceToken: invoice.token ?? '',
      accountCode: null,
      carrier: null,
      trackingNumber: null,
    });
    // This browser's orders, for "Your orders" (the shop has no buyer accounts; the list
    // showed every buyer's orders to anyone: helper-75's review).
    const mine = [orderId, ...ordersOfBrowser(c).filter((id) => id !== orderId)].slice(0, ordersRemembered);
    setCookie(c, ordersCookie, mine.join('.'), {
      httpOnly: true,
      sameSite: 'Lax',
      path: '/',
      maxAge: 90 * 24 * 60 * 60,
    });
    return c.redirect(`/orders/${orderId}/pay`, 303);
  });

  // Step 103: the buyer pays in the widget; the shop's page never sees bank credentials.
  app.get('/orders/:id/pay', async (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order) return c.text('No such order', 404);
    // Paid already (the back button, a second tab): the order page, not a dead end.
    if (order.accountCode || order.status !== 'awaiting_payment')
      return c.redirect(`/orders/${order.id}`, 303);
    const invoiceToken = await payableInvoice(order);
    if (invoiceToken === null) return c.redirect(`/orders/${order.id}`, 303);
    return c.html(
      page(
        'Pay',
        html`<h1>Pay for ${order.title}</h1>
          <p>Amount: <strong>${yen(order)}</strong> · order ${order.id}</p>
          <script src="${options.gatewayUrl}/checkout.js" defer></script>
          <lockstep-checkout
            id="checkout"
            mode="pay"
            invoice="${invoiceToken}"
            publishable-key="${options.publishableKey}"
            data-order="${order.id}"
          ></lockstep-checkout>
          <script src="/shop.js" defer></script>`,
      ),
    );
  });

  // The widget tells the page the account code; the backend checks it against the invoice.
  app.post('/orders/:id/paid', async (c) => {
    const order = orders.get(c.req.param('id'));
    const body = (await c.req.json().catch(() => ({}))) as { code?: unknown };
    if (!order || typeof body.code !== 'string') return c.json({ ok: false }, 400);
    const account = await lockstep.temporaryAccounts.retrieve(body.code);
    if (!isOurDeal(account, order)) return c.json({ ok: false }, 409);
    // Only links the account (the webhook may have done it, and moved the status, already).
    if (orders.linkAccount(order.id, account.code))
      orders.transition(order.id, ['awaiting_payment'], opened(account));
    return c.json({ ok: true, orderUrl: `/orders/${order.id}` });
  });

  // Steps 106, 120-122: the buyer watches the deal and releases (or reports a problem).
  app.get('/orders/:id', (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order) return c.text('No such order', 404);
    return c.html(
      page(
        `Order ${order.id}`,
        html`<h1>Order ${order.id}</h1>
          <p>${order.title} · ${yen(order)}</p>
          <p>Shop status: <strong id="order-status" data-order="${order.id}" data-status="${order.status}">${statusText[order.status]}</strong>
            <span id="order-tracking">${order.trackingNumber ? ` · shipped by ${order.carrier}, tracking ${order.trackingNumber}` : ''}</span></p>
          ${
            order.accountCode
              ? html`<script src="${options.gatewayUrl}/checkout.js" defer></script>
                  <lockstep-checkout
                    id="checkout"
                    mode="order"
                    account="${order.accountCode}"
                    publishable-key="${options.publishableKey}"
                  ></lockstep-checkout>`
              : html`<p>Waiting for payment. <a href="/orders/${order.id}/pay">Pay now</a></p>`
          }
          <p><a href="/orders">Your orders</a> · <a href="/">Back to the shop</a></p>
          <script src="/shop.js" defer></script>`,
      ),
    );
  });

  app.get('/orders', (c) => {
    const mine = ordersOfBrowser(c)
      .map((id) => orders.get(id))
      .filter((order): order is Order => order != null);
    return c.html(
      page(
        'Your orders',
        html`<h1>Your orders</h1>
          ${
            mine.length > 0
              ? html`<ul>
                  ${mine.map(
                    (order) =>
                      html`<li><a href="/orders/${order.id}">${order.id}</a> ${order.title} — ${statusText[order.status]}</li>`,
                  )}
                </ul>`
              : html`<p>No orders from this browser yet.</p>`
          }
          <p><a href="/">Back to the shop</a></p>`,
      ),
    );
  });

  app.get('/orders/:id/status', (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order) return c.json({}, 404);
    const { status, accountCode, carrier, trackingNumber } = order;
    return c.json({ status, statusText: statusText[status], accountCode, carrier, trackingNumber });
  });

  // The seller's side: mark shipped (step 105), or release our lock on a dispute (refund).
  // Basic auth alone would let another site post the admin's forms with the browser's saved
  // credentials: form posts must come from the shop's own origin.
  app.use('/admin/*', csrf({ origin: new URL(options.publicUrl).origin }));
  app.use('/admin/*', basicAuth({ username: 'admin', password: options.adminPassword }));
  app.use('/admin', basicAuth({ username: 'admin', password: options.adminPassword }));
  app.get('/admin', (c) =>
    c.html(
      page(
        'Shop admin',
        html`<h1>Shop admin</h1>
          <table>
            <thead><tr><th>Order</th><th>Item</th><th>Amount</th><th>Status</th><th>Action</th></tr></thead>
            <tbody>
              ${orders.list().map(
                (order) => html`<tr data-order="${order.id}">
                  <td>${order.id}</td><td>${order.title}</td><td>${yen(order)}</td>
                  <td class="status">${order.status}</td>
                  <td>${adminAction(order)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`,
      ),
    ),
  );

  app.post('/admin/orders/:id/ship', async (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order?.accountCode || order.status !== 'funded') return c.text('Only a funded order ships.', 409);
    const form = await c.req.parseBody();
    const carrier = String(form.carrier || 'Yamato');
    const trackingNumber = String(form.trackingNumber || `YT${Date.now()}`);
    try {
      await lockstep.temporaryAccounts.markShipped(
        order.accountCode,
        { carrier, trackingNumber },
        { idempotencyKey: `ship-${order.id}` },
      );
    } catch (error) {
      // The buyer reported a problem before its webhook reached us, say: the bank refuses a
      // shipment now, and the admin is told why (it was a 500: helper-79's review).
      if (error instanceof StateConflictError) return c.text(`Not shipped: ${error.message}`, 409);
      throw error;
    }
    orders.update(order.id, { carrier, trackingNumber });
    orders.transition(order.id, ['funded'], 'shipped');
    return c.redirect('/admin', 303);
  });

  app.post('/admin/orders/:id/refund', async (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order?.accountCode || order.status !== 'disputed')
      return c.text('Only a disputed order is refunded.', 409);
    await lockstep.temporaryAccounts.unlock(order.accountCode, { idempotencyKey: `refund-${order.id}` });
    orders.transition(order.id, ['disputed'], 'refunding');
    return c.redirect('/admin', 303);
  });

  // An order we will not ship: a buyer who chose to pay later and did not pay up, or a paid
  // order we cannot fill. The shop cancels the deal at the bank. An empty one is closed
  // (`cancelled`); one holding money takes no more and our lock comes off for good, so the buyer
  // takes it back with the bank's creation fee (`refunding`, then `refunded` when the account
  // closes). The bank's pay deadline does the same on its own for an unpaid one.
  app.post('/admin/orders/:id/cancel', async (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order?.accountCode || !cancellable.includes(order.status))
      return c.text('Only an order awaiting its money, or paid and not shipped, is cancelled.', 409);
    try {
      const account = await lockstep.temporaryAccounts.cancel(order.accountCode, {
        idempotencyKey: `cancel-${order.id}`,
      });
      orders.transition(order.id, cancellable, account.status === 'dissolved' ? 'cancelled' : 'refunding');
    } catch (error) {
      // Shipped or disputed meanwhile (the webhook will say so): not cancelled.
      if (!(error instanceof StateConflictError)) throw error;
      return c.text(`Not cancelled: ${error.message}`, 409);
    }
    return c.redirect('/admin', 303);
  });

  app.post('/admin/orders/:id/withdraw', async (c) => {
    const order = orders.get(c.req.param('id'));
    if (!order?.accountCode || order.status !== 'withdraw_failed') return c.text('Nothing to retry.', 409);
    await takePayment(order.id, order.accountCode);
    return c.redirect('/admin', 303);
  });

  // Webhooks: verify over the raw body, de-duplicate by event id, then react.
  app.post('/webhooks/lockstep', async (c) => {
    const rawBody = await c.req.text();
    let event: Awaited<ReturnType<typeof verifier.verify>>;
    try {
      event = await verifier.verify(rawBody, c.req.raw.headers);
    } catch {
      return c.json({ ok: false, error: 'invalid signature' }, 400);
    }
    // Recorded as processed only once handled: a crash half-way leaves it to the gateway's
    // retry (a claim taken before the work was lost with the process: helper-44's review). The
    // handling is safe to run twice: every step is guarded by the order's state, and the
    // withdrawal carries its own idempotency key.
    if (orders.wasProcessed(event.id)) return c.json({ ok: true, duplicate: true });
    await handleEvent(event);
    orders.markProcessed(event.id);
    return c.json({ ok: true });
  });

  /** An order's status once its deal is open: paid, or awaiting the money the buyer pays later. */
  function opened(account: TemporaryAccount): OrderStatus {
    return account.status === 'awaiting_funds' ? 'awaiting_funds' : 'paid';
  }

  /** An invoice for the order, valid for an hour (the widget pays it, or opens a deal to pay later). */
  function issueInvoice(
    item: { amountMinor: number; currency: InvoiceCurrency; title: string },
    orderId: string,
    idempotencyKey: string,
  ) {
    return lockstep.invoices.create(
      {
        amountMinor: item.amountMinor,
        currency: item.currency,
        orderReference: orderId,
        description: item.title,
        payeeContact: 'orders@tea-shop.example',
        expiresInSeconds: 3600,
      },
      { idempotencyKey },
    );
  }

  /**
   * The invoice the buyer pays now: the order's own, or a new one once it expired unused (the
   * pay page offered an expired invoice for ever and the order was stuck: helper-89). The bank
   * opens no account for an invoice past its expiry by its own clock, checked in the payment's
   * transaction; the new one comes `reissueAfterMs` later by ours, so a payment of the old one
   * is never left unmatched while our clock runs a little ahead of the bank's (helper-91). Null
   * when the order was paid meanwhile: its account is linked here if its webhook has not come.
   */
  async function payableInvoice(order: Order): Promise<string | null> {
    const invoice = await lockstep.invoices.retrieve(order.invoiceId);
    if (invoice.temporaryAccountCode !== null) {
      const account = await lockstep.temporaryAccounts.retrieve(invoice.temporaryAccountCode);
      if (isOurDeal(account, order) && orders.linkAccount(order.id, account.code))
        orders.transition(order.id, ['awaiting_payment'], opened(account));
      return null;
    }
    if (Date.parse(invoice.expiresAt) + reissueAfterMs > Date.now()) return order.invoiceToken;
    // The order's own terms (its currency came from the catalog when it was placed).
    const terms = { ...order, currency: order.currency as InvoiceCurrency };
    const fresh = await issueInvoice(terms, order.id, `invoice-${order.id}-after-${invoice.id}`);
    orders.replaceInvoice(order.id, invoice.id, fresh.id, fresh.token ?? '');
    return orders.get(order.id)?.invoiceToken ?? null;
  }

  /** Only a plain deal between this buyer and us, for this order's invoice and amount, counts. */
  function isOurDeal(account: TemporaryAccount, order: Order): boolean {
    return dealMismatches(account, termsOf(order)).length === 0;
  }

  function termsOf(order: Order) {
    return { invoiceId: order.invoiceId, amountMinor: order.amountMinor, currency: order.currency };
  }

  /**
   * Step 123: take the money. A refusal is recorded for the admin to retry, not retried blindly;
   * any other failure (the gateway unreachable) is recorded too and thrown, so the webhook
   * answers 500 and the gateway's retry of the event tries again. From a shipped order (the
   * buyer's lock came off without a verdict) a refusal leaves it shipped.
   */
  async function takePayment(
    orderId: string,
    code: string,
    from: OrderStatus[] = ['released', 'withdraw_failed'],
  ): Promise<void> {
    try {
      await lockstep.temporaryAccounts.withdraw(code, {}, { idempotencyKey: `withdraw-${orderId}` });
      orders.transition(orderId, from, 'completed');
    } catch (error) {
      orders.transition(orderId, ['released'], 'withdraw_failed');
      if (!(error instanceof LockConflictError || error instanceof StateConflictError)) throw error;
    }
  }

  /** The deal is ours to take (accepted, or decided for us): take it unless already taken. */
  async function released(orderId: string, code: string): Promise<void> {
    // Also from a refund we offered, when the bank then decided the dispute for us.
    orders.transition(orderId, ['funded', 'shipped', 'disputed', 'refunding'], 'released');
    const status = orders.get(orderId)?.status;
    // Also when an earlier delivery of the event released the order but could not withdraw.
    if (status === 'released' || status === 'withdraw_failed') await takePayment(orderId, code);
  }

  async function handleEvent(event: {
    type: string;
    accountCode: string;
    data?: Record<string, unknown>;
  }): Promise<void> {
    const code = event.accountCode;
    let order = orders.byAccount(code);
    if (!order && (event.type === 'account.created' || event.type === 'account.funded')) {
      const account = await lockstep.temporaryAccounts.retrieve(code);
      const candidate = account.invoiceId ? orders.byInvoice(account.invoiceId) : null;
      // Only a plain deal on our terms is an order's payment (never a reshaped escrow).
      if (candidate && isOurDeal(account, candidate)) {
        orders.linkAccount(candidate.id, code);
        orders.transition(candidate.id, ['awaiting_payment'], opened(account));
        order = orders.get(candidate.id);
      }
    }
    if (!order || order.accountCode !== code) return; // Not one of our orders' payments.
    switch (event.type) {
      case 'account.created':
      case 'account.funded': {
        if (!['awaiting_payment', 'paid', 'awaiting_funds'].includes(order.status)) return;
        // The SDK checks the terms again before it locks (DealMismatchError otherwise). A deal
        // closed meanwhile (the buyer closed it, or its pay window closed) is not locked: the
        // events that closed it follow, and say what became of the order. Throwing would have
        // the gateway retry this delivery, and hold back the ones after it.
        const check = await lockstep.temporaryAccounts
          .ensureFunded(code, { expect: termsOf(order) })
          .catch((error: unknown) => {
            if (error instanceof StateConflictError && closedCodes.has(error.code)) return null;
            throw error;
          });
        if (!check) return;
        orders.transition(
          order.id,
          ['awaiting_payment', 'paid', 'awaiting_funds'],
          check.funded ? 'funded' : 'awaiting_funds',
        );
        return;
      }
      case 'deal.accepted':
        await released(order.id, code);
        return;
      case 'lock.changed':
        // The buyer let the money go without a verdict (it turned its lock off at its bank once
        // the parcel came): the money is ours to take now, not in 14 days when the verdict
        // deadline accepts for it. If it locked again meanwhile, or a member's lock still holds
        // the money, the refusal changes nothing and the order stays shipped (the refusal is
        // not kept under the key, so the withdrawal on deal.accepted still runs).
        if (order.status === 'shipped' && event.data?.role === 'buyer' && event.data?.lockPpm === 0) {
          await takePayment(order.id, code, ['shipped']);
        }
        return;
      case 'deal.rejected':
        orders.transition(order.id, ['funded', 'shipped'], 'disputed');
        return;
      case 'dispute.resolved':
        // The bank decided for us: the buyer's lock is off, take the payment (also if this
        // arrives before deal.rejected, which then changes nothing). For the buyer: our lock is
        // off for good and the buyer takes the money back (helper-89: the order still read
        // "Problem reported" and offered to refund).
        if (event.data?.for === 'seller') await released(order.id, code);
        else orders.transition(order.id, ['funded', 'shipped', 'disputed'], 'refunding');
        return;
      case 'deal.cancelled':
      case 'deadline.passed': {
        // We did not ship in time: the bank took our lock off for good and refuses a shipment;
        // the buyer takes the money back (helper-89: the order read "being packed" and the admin
        // still offered Mark shipped).
        if (event.type === 'deadline.passed' && event.data?.deadline === 'ship') {
          orders.transition(order.id, ['funded'], 'refunding');
          return;
        }
        // Our cancel (from the bank's pages too), or the buyer's pay deadline: the deal takes no
        // more money. Paid, in part or in full: the buyer takes it back (refunding, then
        // refunded when the account closes); nothing paid: account.dissolved follows and
        // cancels the order.
        if (event.type === 'deadline.passed' && event.data?.deadline !== 'pay') return;
        const account = await lockstep.temporaryAccounts.retrieve(code);
        if (account.status !== 'dissolved' && account.balanceMinor > 0) {
          orders.transition(order.id, cancellable, 'refunding');
        }
        return;
      }
      case 'account.dissolved':
        // Closed before it was ever paid up: cancelled (by us, or by the buyer).
        if (orders.transition(order.id, ['awaiting_funds'], 'cancelled')) return;
        // Emptied without our withdrawal: the buyer took the money back.
        orders.transition(order.id, ['disputed', 'refunding', 'funded', 'shipped', 'paid'], 'refunded');
        return;
      default:
        return;
    }
  }

  /** Registers this shop's webhook endpoint once. */
  async function registerWebhook(): Promise<void> {
    const url = `${options.publicUrl}/webhooks/lockstep`;
    const existing = await lockstep.webhookEndpoints.list();
    if (existing.data.some((endpoint) => endpoint.url === url && endpoint.enabled)) return;
    // Keyed by what exists now: two shops starting together register one endpoint, and after a
    // disabled one the key is new (the old key replayed the disabled endpoint: helper-44).
    const key = `webhook-${url}-${existing.data.map((endpoint) => endpoint.id).join(',')}`;
    await lockstep.webhookEndpoints.create({ url }, { idempotencyKey: key.length <= 255 ? key : undefined });
  }

  app.get('/shop.js', (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8');
    return c.body(shopScript);
  });

  return { app, orders, lockstep, registerWebhook, close };
}

/** Orders we may still call off at the bank: not shipped, no problem reported. */
const cancellable: OrderStatus[] = ['awaiting_funds', 'funded'];

function adminAction(order: Order) {
  if (order.status === 'funded') {
    return html`<form method="post" action="/admin/orders/${order.id}/ship">
        <label>Carrier <input name="carrier" value="Yamato" /></label>
        <label>Tracking <input name="trackingNumber" value="YT-${order.id}" /></label>
        <button type="submit">Mark shipped</button>
      </form>
      <form method="post" action="/admin/orders/${order.id}/cancel">
        <button type="submit">Cancel the order (the buyer gets all its money back)</button>
      </form>`;
  }
  if (order.status === 'disputed') {
    return html`<form method="post" action="/admin/orders/${order.id}/refund">
      <button type="submit">Release our lock (refund the buyer)</button>
    </form>`;
  }
  if (order.status === 'refunding') return 'Our lock is off: the buyer takes the money back at the bank.';
  if (order.status === 'awaiting_funds') {
    return html`The buyer pays later; ship once it is funded.
      <form method="post" action="/admin/orders/${order.id}/cancel">
        <button type="submit">Cancel the order (any part paid goes back to the buyer)</button>
      </form>`;
  }
  if (order.status === 'withdraw_failed') {
    return html`<form method="post" action="/admin/orders/${order.id}/withdraw">
      <button type="submit">Retry taking the payment</button>
    </form>`;
  }
  return '';
}

function page(title: string, body: ReturnType<typeof html>) {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <style>
          ${raw(`body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}
          table{border-collapse:collapse}td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd}
          lockstep-checkout{display:block;margin:1.5rem 0;--lockstep-accent:#2f6f4f}`)}
        </style>
      </head>
      <body>
        ${body}
      </body>
    </html>`;
}

/** "Your orders" reads this browser's order ids from this cookie (newest first). */
/** The refusals of a deal closed before it was paid up: nothing of ours to do but wait for its events. */
const closedCodes = new Set(['account_dissolved', 'deal_cancelled', 'deadline_passed']);

const ordersCookie = 'shop_orders';
const ordersRemembered = 50;

function ordersOfBrowser(c: Context): string[] {
  return (getCookie(c, ordersCookie) ?? '').split('.').filter((id) => /^ord_[\w-]{1,40}$/.test(id));
}

/**
 * The page script: when the widget reports payment, tell the backend and open the order; on
 * the order page, keep the shop's status current (it was the one the page was served with).
 */
const shopScript = `
const widget = document.getElementById('checkout');
if (widget && widget.dataset.order) {
  // 'opened': the buyer opened the deal to pay later (it awaits the money); linked the same way.
  const linkPayment = async (event) => {
    const orderId = widget.dataset.order;
    const response = await fetch('/orders/' + orderId + '/paid', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: event.detail.code }),
    });
    const result = await response.json().catch(() => ({}));
    location.href = result.orderUrl || '/orders/' + orderId;
  };
  widget.addEventListener('paid', linkPayment);
  widget.addEventListener('opened', linkPayment);
}
const statusLine = document.getElementById('order-status');
if (statusLine && statusLine.dataset.order) {
  const tracking = document.getElementById('order-tracking');
  const refresh = async () => {
    const response = await fetch('/orders/' + statusLine.dataset.order + '/status').catch(() => null);
    const order = response && response.ok ? await response.json().catch(() => null) : null;
    if (order && order.status && statusLine.dataset.status !== order.status) {
      statusLine.dataset.status = order.status;
      statusLine.textContent = order.statusText;
    }
    if (order && order.trackingNumber && tracking) {
      tracking.textContent = ' · shipped by ' + order.carrier + ', tracking ' + order.trackingNumber;
    }
  };
  // Until the order is final; not while the tab is hidden (once more when it shows again).
  const final = ['completed', 'refunded', 'cancelled'];
  const timer = setInterval(() => {
    if (final.includes(statusLine.dataset.status)) clearInterval(timer);
    else if (!document.hidden) refresh();
  }, 3000);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !final.includes(statusLine.dataset.status)) refresh();
  });
}
`;
