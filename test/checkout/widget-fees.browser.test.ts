import { createServer, type Server } from 'node:http';
import type { Browser, Frame } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCommission } from '../../packages/gateway/src/config.ts';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { browserAvailable, launchBrowser } from '../support/browser.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * The order page of a deal awaiting funds at a bank that charges a creation fee (¥100, taken
 * with the first pay-in or kept from a remittance): what the widget says is still to pay
 * names the fee too. It said the amount alone, and a buyer who remitted that left the deal
 * unfunded (helper-67's review).
 */
describe.runIf(browserAvailable())('checkout widget at a bank with fees', () => {
  let gateway: TestGateway;
  let shop: Server;
  let shopOrigin: string;
  let browser: Browser;
  let lang = 'en';

  beforeAll(async () => {
    shop = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Shop</title></head><body>
        <script src="${gateway.url}/checkout.js"></script>
        <lockstep-checkout publishable-key="${gateway.seed.publishableKey}" mode="order" account="${account}" lang="${lang}"></lockstep-checkout>
        </body></html>`);
    });
    await new Promise<void>((resolve) => shop.listen(0, '127.0.0.1', resolve));
    const address = shop.address();
    shopOrigin = `http://localhost:${typeof address === 'object' && address ? address.port : 0}`;
    gateway = await startTestGateway({
      listen: true,
      allowedOrigins: [shopOrigin],
      commission: demoCommission,
    });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await new Promise((resolve) => shop?.close(resolve));
  });

  let account = '';

  async function status(language: string): Promise<string> {
    lang = language;
    const page = await browser.newPage();
    try {
      await page.goto(`${shopOrigin}/order`);
      const frame = (await (await page.waitForSelector('lockstep-checkout iframe')).contentFrame()) as Frame;
      await frame.locator('#user-id, input[autocomplete="username"]').first().fill(demoLogins.buyer.userId);
      await frame.locator('input[type="password"]').fill(demoLogins.buyer.password);
      await frame.locator('input[type="password"]').press('Enter');
      const field = frame.locator('[data-field="status"]');
      await field.waitFor();
      return (await field.textContent()) ?? '';
    } finally {
      await page.close();
    }
  }

  it('says the amount still due and the bank’s fee, in English and Japanese', async () => {
    const opened = await gateway.request('POST', '/v1/temporary-accounts', {
      token: gateway.seed.secretKey,
      body: { buyerUserId: demoLogins.buyer.userId, amountMinor: 1_500, currency: 'JPY' },
    });
    expect(opened.body).toMatchObject({
      status: 'awaiting_funds',
      amountDueMinor: 1_500,
      creationFeeDueMinor: 100,
    });
    account = opened.body.code;
    expect(await status('en')).toBe(
      "Awaiting funds: ¥1,500 still to pay at your bank, and the bank's fee of ¥100",
    );
    expect(await status('ja')).toBe('入金待ち（あと￥1,500と銀行手数料￥100を銀行でお支払いください）');
  }, 60_000);
});
