import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { browserAvailable, launchBrowser, screenshot } from '../support/browser.ts';
import { freePort } from '../support/gateway.ts';
import { nodeFlags, root } from '../support/gateway-process.ts';

/**
 * The whole deal end to end over the real processes `pnpm start` runs (gateway + example shop,
 * embedded store, demo commission: ¥100 creation fee to the buyer, 1% withdrawal fee to the
 * seller), driven in Chromium as a buyer, the shop's admin and the bank's customers would.
 */
describe.runIf(browserAvailable())('example shop, end to end (pnpm start)', () => {
  let demo: ChildProcess;
  let output = '';
  let shopUrl: string;
  let gatewayUrl: string;
  let browser: Browser;
  let buyer: BrowserContext;
  let admin: BrowserContext;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-demo-'));

  beforeAll(async () => {
    const [gatewayPort, shopPort] = [await freePort(), await freePort()];
    gatewayUrl = `http://localhost:${gatewayPort}`;
    shopUrl = `http://localhost:${shopPort}`;
    demo = spawn(process.execPath, [...nodeFlags, 'scripts/start.ts'], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(gatewayPort),
        SHOP_PORT: String(shopPort),
        LOCKSTEP_DEMO_DIR: dataDir,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: demo.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        output += `${line}\n`;
        if (line.includes('Lockstep demo is running.')) resolve();
      });
      demo.once('exit', (code) => reject(new Error(`pnpm start exited (${code}):\n${output}`)));
    });
    browser = await launchBrowser();
    buyer = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    admin = await browser.newContext({ httpCredentials: { username: 'admin', password: 'admin' } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
      demo.kill('SIGINT'); // Ctrl-C
      expect(await exited).toBe(0);
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the URLs and the demo logins', () => {
    expect(output).toContain(`Shop:          ${shopUrl}`);
    expect(output).toContain(`${gatewayUrl}/bank`);
    expect(output).toContain('mizuta / mizuta-demo-pass');
  });

  async function orderStatus(orderId: string, wanted: string): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const status = (await (await fetch(`${shopUrl}/orders/${orderId}/status`)).json()).status;
      if (status === wanted) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`order ${orderId} never reached ${wanted}`);
  }

  async function widgetFrame(page: Page): Promise<Frame> {
    const handle = await page.waitForSelector('lockstep-checkout iframe');
    return (await handle.contentFrame()) as Frame;
  }

  async function logInWidget(frame: Frame) {
    await frame.getByLabel('User ID').fill(demoLogins.buyer.userId);
    await frame.getByLabel('Password').fill(demoLogins.buyer.password);
    await frame.getByRole('button', { name: 'Log in to your bank' }).click();
  }

  /** Buys an item and pays in the widget; returns the order id once the shop saw the funds. */
  async function buyAndPay(itemTitle: string, shotPrefix?: string): Promise<{ page: Page; orderId: string }> {
    const page = await buyer.newPage();
    await page.goto(shopUrl);
    if (shotPrefix) await screenshot(page, `${shotPrefix}-1-catalog`);
    await page.locator('form', { hasText: itemTitle }).getByRole('button', { name: 'Buy' }).click();
    await page.waitForURL(/\/orders\/[\w-]+\/pay$/);
    const orderId = new URL(page.url()).pathname.split('/')[2] as string;
    const frame = await widgetFrame(page);
    await logInWidget(frame);
    await frame.getByRole('button', { name: /^Pay/ }).waitFor();
    if (shotPrefix) await screenshot(page, `${shotPrefix}-2-pay`);
    const payWindow = page.waitForEvent('popup');
    await frame.getByRole('button', { name: /^Pay/ }).click();
    // The payment is confirmed in the bank's own window, which the shop cannot hide.
    await (await payWindow).getByRole('button', { name: /^Pay/ }).click();
    await page.waitForURL(new RegExp(`/orders/${orderId}$`));
    // The shop's webhook handler locked its side and checked the funds (steps 115-118).
    await orderStatus(orderId, 'funded');
    return { page, orderId };
  }

  async function bankBalance(user: {
    userId: string;
    password: string;
  }): Promise<{ page: Page; text: string }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${gatewayUrl}/bank/login`);
    await page.getByLabel('User ID').fill(user.userId);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Your accounts' }).waitFor();
    return {
      page,
      text: (await page.locator('[data-field="usual-balance"]').first().textContent()) as string,
    };
  }

  it('buyer orders and pays; the shop locks and checks; admin ships; buyer releases; shop withdraws', async () => {
    const { page, orderId } = await buyAndPay('Uji green tea', 'shop-happy');

    const adminPage = await admin.newPage();
    await adminPage.goto(`${shopUrl}/admin`);
    await screenshot(adminPage, 'shop-happy-3-admin');
    await adminPage
      .locator(`tr[data-order="${orderId}"]`)
      .getByRole('button', { name: 'Mark shipped' })
      .click();
    await orderStatus(orderId, 'shipped');
    // The order page keeps the shop's status current, without a reload (it showed "funded").
    await page.locator('#order-status[data-status="shipped"]').waitFor();
    await page.locator('#order-tracking').getByText('tracking').waitFor();

    await page.reload();
    const frame = await widgetFrame(page);
    await logInWidget(frame);
    await frame.locator('[data-field="shipment"]').getByText('tracking').waitFor();
    await frame.locator('[data-field="seller-lock"]').getByText('on').waitFor();
    // The buyer is told until when to decide, and what silence does.
    await frame
      .locator('[data-field="deadline"]')
      .getByText('If you do neither, the payment goes to the seller')
      .waitFor();
    await screenshot(page, 'shop-happy-4-order-shipped');
    const confirmation = page.waitForEvent('popup');
    await frame.getByRole('button', { name: 'Release payment' }).click();
    await (await confirmation).getByRole('button', { name: 'Confirm' }).click();
    // deal.accepted → the shop withdraws (step 123); the account empties and dissolves.
    await orderStatus(orderId, 'completed');
    await frame.locator('[data-field="status"]').getByText('Completed').waitFor();
    await screenshot(page, 'shop-happy-5-order-completed');

    // The bank's pages: ¥10,500 moved, the ¥100 creation fee and the 1% (¥105) withdrawal fee.
    const buyerBank = await bankBalance(demoLogins.buyer);
    expect(buyerBank.text).toBe('89,400 JPY'); // 100,000 - 10,500 - 100
    const sellerBank = await bankBalance(demoLogins.seller);
    expect(sellerBank.text).toBe('10,395 JPY'); // 10,500 - 105
    await screenshot(sellerBank.page, 'shop-happy-6-bank-seller');
    const row = sellerBank.page.locator('tr[data-code]').first();
    await expect(row.textContent()).resolves.toContain('Dissolved');
    await row.getByRole('link').click();
    await expect(sellerBank.page.locator('[data-field="status"]').textContent()).resolves.toBe('Dissolved');
    const fees = await sellerBank.page.locator('[data-field="fee"]').allTextContents();
    expect(fees).toEqual(['(bank fee 100 JPY)', '(bank fee 105 JPY)']);
    await screenshot(sellerBank.page, 'shop-happy-7-bank-account-dissolved');
  }, 120_000);

  it('"report a problem": the seller releases its lock and the buyer takes the money back', async () => {
    const { page, orderId } = await buyAndPay('Pair of tea cups');
    const frame = await widgetFrame(page);
    await logInWidget(frame);
    const opened = page.waitForEvent('popup');
    await frame.getByRole('button', { name: 'Report a problem' }).click();
    const confirmation = await opened; // the bank's own window, which the shop cannot frame
    await confirmation.getByLabel('What is wrong? (optional)').fill('One cup arrived broken');
    await confirmation.getByRole('button', { name: 'Confirm' }).click();
    await orderStatus(orderId, 'disputed');
    await screenshot(page, 'shop-dispute-1-reported');

    const adminPage = await admin.newPage();
    await adminPage.goto(`${shopUrl}/admin`);
    await adminPage
      .locator(`tr[data-order="${orderId}"]`)
      .getByRole('button', { name: 'Release our lock (refund the buyer)' })
      .click();
    await adminPage
      .locator(`tr[data-order="${orderId}"]`)
      .getByText('Our lock is off: the buyer takes the money back at the bank.')
      .waitFor();

    // The buyer takes the money back at the bank; the account dissolves; the shop sees it.
    const code = (await (await fetch(`${shopUrl}/orders/${orderId}/status`)).json()).accountCode as string;
    const bank = await bankBalance(demoLogins.buyer);
    expect(bank.text).toBe('84,500 JPY'); // 89,400 - 4,800 - 100 while held
    await bank.page.goto(`${gatewayUrl}/bank/temporary-accounts/${code}`);
    await bank.page.locator('tr[data-party="seller"] [data-field="lock"]').getByText('off').waitFor();
    // The page says the money is the buyer's to take back, and names the button for it.
    await bank.page.getByText('The seller released its lock: the money is yours to take back.').waitFor();
    await bank.page.getByRole('button', { name: 'Take your money back' }).click();
    await bank.page.getByText('Withdrawn to your usual account.').waitFor();
    await orderStatus(orderId, 'refunded');
    await bank.page.goto(`${gatewayUrl}/bank`);
    await expect(bank.page.locator('[data-field="usual-balance"]').first().textContent()).resolves.toBe(
      '89,300 JPY',
    );
    await screenshot(bank.page, 'shop-dispute-2-refunded');
  }, 120_000);

  it('the admin forms refuse other sites and act only in the right state', async () => {
    const orders = await (
      await fetch(`${shopUrl}/admin`, { headers: { authorization: `Basic ${btoa('admin:admin')}` } })
    ).text();
    const completed = /data-order="([\w-]+)"[\s\S]*?<td class="status">completed</.exec(orders)?.[1];
    expect(completed).toBeDefined();
    const post = (path: string, origin: string) =>
      fetch(`${shopUrl}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${btoa('admin:admin')}`,
          'content-type': 'application/x-www-form-urlencoded',
          origin,
        },
        body: '',
        redirect: 'manual',
      });
    expect((await post(`/admin/orders/${completed}/refund`, 'https://evil.example')).status).toBe(403);
    expect((await post(`/admin/orders/${completed}/refund`, shopUrl)).status).toBe(409);
    expect((await post(`/admin/orders/${completed}/ship`, shopUrl)).status).toBe(409);
  });

  it('a buyer who chooses to pay later lands on the order page awaiting funds; the admin cancels it unpaid', async () => {
    const page = await buyer.newPage();
    await page.goto(shopUrl);
    await page.locator('form', { hasText: 'Uji green tea' }).getByRole('button', { name: 'Buy' }).click();
    await page.waitForURL(/\/orders\/[\w-]+\/pay$/);
    const orderId = new URL(page.url()).pathname.split('/')[2] as string;
    const frame = await widgetFrame(page);
    await logInWidget(frame);
    await frame.getByLabel(/Pay later:/).check();
    const payWindow = page.waitForEvent('popup');
    await frame.getByRole('button', { name: 'Open the deal, pay later' }).click();
    await (await payWindow).getByRole('button', { name: 'Open the deal, pay later' }).click();
    // The widget's "opened" event links the order, as "paid" does.
    await page.waitForURL(new RegExp(`/orders/${orderId}$`));
    await orderStatus(orderId, 'awaiting_funds');
    await page.locator('#order-status[data-status="awaiting_funds"]').waitFor();
    // The buyer reads words, not the shop's status codes.
    await expect(page.locator('#order-status').textContent()).resolves.toBe(
      'Waiting for your pay-in at the bank',
    );
    const order = await widgetFrame(page);
    await logInWidget(order);
    await order
      .locator('[data-field="next-step"]')
      .getByText(/^Pay ¥10,500 and the bank's fee of ¥100 into this deal by /)
      .waitFor();
    await screenshot(page, 'shop-pay-later-1-awaiting');

    const adminPage = await admin.newPage();
    await adminPage.goto(`${shopUrl}/admin`);
    const row = adminPage.locator(`tr[data-order="${orderId}"]`);
    await row.getByText('The buyer pays later; ship once it is funded.').waitFor();
    await row
      .getByRole('button', { name: 'Cancel the order (any part paid goes back to the buyer)' })
      .click();
    await adminPage.locator(`tr[data-order="${orderId}"] td.status`).getByText('cancelled').waitFor();
    // The buyer's order page follows (it polls the shop's status until final).
    await page.locator('#order-status[data-status="cancelled"]').waitFor({ timeout: 10_000 });
    await order.locator('[data-field="status"]').getByText('Cancelled: closed before it was paid').waitFor();
    await expect(order.locator('[data-field="seller-lock"]').textContent()).resolves.toBe('—');
  }, 120_000);
});
