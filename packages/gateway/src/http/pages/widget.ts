import type { Context, Hono } from 'hono';
import { html } from 'hono/html';
import type { GatewayEnv } from '../context.ts';
import { type AssetName, asset } from './assets.ts';

/**
 * The checkout widget's server side: the loader script shops embed (`/checkout.js`) and the
 * iframe page (`/widget/frame`) that holds the buyer's login and confirmation on the gateway's
 * origin. The iframe may be framed only by the merchant's registered origins
 * (`frame-ancestors`), and it posts its events only to the page origin it was given, which must
 * be one of them.
 */
const themeKeys = [
  'accent',
  'accent-text',
  'background',
  'text',
  'muted',
  'border',
  'radius',
  'font',
] as const;
const safeCssValue = /^[#\w\s.,%()'"+-]{1,100}$/;

export function widgetRoutes(app: Hono<GatewayEnv>): void {
  app.get('/checkout.js', (c) => serveAsset(c, 'checkout.js', 'public, max-age=300'));
  app.get('/widget/frame.js', (c) => serveAsset(c, 'frame.js', 'public, max-age=300'));
  app.get('/widget/frame.css', (c) => serveAsset(c, 'frame.css', 'public, max-age=300'));

  app.get('/widget/confirm', confirmWindowPage);

  app.get('/widget/frame', async (c) => {
    const { auth } = c.get('gateway');
    const query = c.req.query();
    const refuse = (status: 400 | 403, text: string) => {
      c.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
      c.header('Cache-Control', 'no-store');
      return c.text(text, status);
    };
    const mode = query.mode === 'order' ? 'order' : query.mode === 'pay' ? 'pay' : undefined;
    if (!mode) return refuse(400, 'mode must be pay or order');
    let allowedOrigins: string[];
    let merchantId: string;
    const gateway = c.get('gateway');
    try {
      const key = await auth.publishableKey(String(query.pk ?? ''));
      merchantId = key.merchantId;
      const merchant = await gateway.bank.read((reader) => reader.getMerchant(merchantId));
      allowedOrigins = merchant?.allowedOrigins ?? [];
    } catch {
      return refuse(403, 'Unknown or revoked publishable key.');
    }
    const hostOrigin = String(query.origin ?? '');
    if (!allowedOrigins.includes(hostOrigin)) {
      return refuse(403, 'This page may not embed the checkout of this merchant.');
    }
    const instance = /^[\w-]{1,64}$/.test(query.instance ?? '') ? (query.instance as string) : 'w0';
    const invoice = mode === 'pay' && /^[\w.-]{10,8192}$/.test(query.invoice ?? '') ? query.invoice : '';
    const account = mode === 'order' && /^[\w-]{1,64}$/.test(query.account ?? '') ? query.account : '';
    // A merchant's checkout shows that merchant's deals and invoices only: another registered
    // shop could otherwise frame it, under its own key, for a competitor's deal, and have the
    // buyer release or dispute that deal from its page (helper-42's review). One answer for a
    // deal of another merchant and for no deal at all, so codes cannot be probed.
    if (account) {
      const deal = await gateway.bank.read((reader) => reader.getTemporaryAccount(account));
      if (!deal?.parties.some((party) => party.customerId === merchantId && party.role === 'seller')) {
        return refuse(403, 'This checkout cannot show this deal.');
      }
    }
    if (invoice) {
      // A token that does not verify is left to the payment, which explains it to the buyer.
      const claims = await gateway.invoices.verifySignature(invoice).catch(() => undefined);
      if (claims && claims.merchantId !== merchantId) {
        return refuse(403, 'This checkout cannot take payment for this invoice.');
      }
    }
    const theme = themeKeys
      .map((key) => [key, query[`t-${key}`]] as const)
      .filter(
        (entry): entry is readonly [(typeof themeKeys)[number], string] =>
          typeof entry[1] === 'string' && safeCssValue.test(entry[1]),
      );
    pageHeaders(c, allowedOrigins.join(' '));
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    const themeAttributes = theme.map(([key, value]) => html` data-theme-${key}="${value}"`);
    return c.html(
      widgetDocument(
        'Lockstep checkout',
        html`lang="${query.lang?.startsWith('ja') ? 'ja' : 'en'}" data-mode="${mode}"
          data-host-origin="${hostOrigin}" data-instance="${instance}" data-invoice="${invoice}"
          data-account="${account}" data-lang="${query.lang ?? 'en'}" ${themeAttributes}`,
      ),
    );
  });
}

/** The iframe page and the confirmation window: one script and style, told apart by `data-mode`. */
function widgetDocument(title: string, attributes: ReturnType<typeof html>) {
  return html`<!doctype html>
    <html ${attributes}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <link rel="stylesheet" href="/widget/frame.css" />
        <script src="/widget/frame.js" defer></script>
      </head>
      <body>
        <main id="app"></main>
      </body>
    </html>`;
}

/** What the iframe page and the confirmation window send alike; only their framers differ. */
function pageHeaders(c: Context<GatewayEnv>, frameAncestors: string): void {
  c.header(
    'Content-Security-Policy',
    [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "connect-src 'self'",
      "img-src 'self' data:",
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${frameAncestors}`,
    ].join('; '),
  );
  c.header('Cache-Control', 'no-store');
  c.header('Referrer-Policy', 'no-referrer');
  c.header('X-Content-Type-Options', 'nosniff');
}

/**
 * The bank's confirmation window for the order iframe's Release and Report (see
 * `confirm-window.ts`): top-level only (`frame-ancestors 'none'`), so the shop that frames the
 * iframe cannot lay it under a decoy. It sends no Cross-Origin-Opener-Policy: it needs its
 * opener, the iframe, to receive the request and report the outcome.
 */
function confirmWindowPage(c: Context<GatewayEnv>) {
  const lang = c.req.query('lang')?.startsWith('ja') ? 'ja' : 'en';
  pageHeaders(c, "'none'");
  c.header('X-Frame-Options', 'DENY');
  return c.html(widgetDocument('Lockstep', html`lang="${lang}" data-mode="confirm" data-lang="${lang}"`));
}

export async function serveAsset(c: Context<GatewayEnv>, name: AssetName, cacheControl: string) {
  const file = await asset(name);
  if (c.req.header('if-none-match') === file.etag) return c.body(null, 304);
  c.header('Content-Type', file.contentType);
  c.header('Cache-Control', cacheControl);
  c.header('ETag', file.etag);
  c.header('X-Content-Type-Options', 'nosniff');
  c.header('Cross-Origin-Resource-Policy', 'cross-origin');
  return c.body(file.body);
}
