import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoLogins } from '../../packages/gateway/src/seed.ts';
import { browserAvailable, launchBrowser, screenshot } from '../support/browser.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The bank's own pages, Drawings 6-10, walked in Chromium by the buyer and by the seller. */
describe.runIf(browserAvailable())('bank pages in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let buyer: BrowserContext;
  let seller: BrowserContext;

  beforeAll(async () => {
    gateway = await startTestGateway({ listen: true });
    browser = await launchBrowser();
    buyer = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    seller = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
  });

  async function logIn(context: BrowserContext, user: { userId: string; password: string }): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${gateway.url}/bank`);
    expect(new URL(page.url()).pathname).toBe('/bank/login');
    await page.getByLabel('User ID').fill(user.userId);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Your accounts' }).waitFor();
    return page;
  }

  it('walks Drawings 6-10: log in, aggregate, create, watch live and use the menu', async () => {
    // Drawing 6: a wrong password gets the generic answer.
    const first = await buyer.newPage();
    await first.goto(`${gateway.url}/bank/login`);
    await screenshot(first, '20-bank-login');
    await first.getByLabel('User ID').fill(demoLogins.buyer.userId);
    await first.getByLabel('Password').fill('not-the-password');
    await first.getByRole('button', { name: 'Log in' }).click();
    await first.getByRole('alert').getByText('The user ID or password is wrong.').waitFor();
    await first.close();

    // Drawing 7: the aggregation; the session cookie is out of the page script's reach.
    const page = await logIn(buyer, demoLogins.buyer);
    await expect(page.locator('[data-field="usual-balance"]').first().textContent()).resolves.toBe(
      '100,000 JPY',
    );
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const cookies = await buyer.cookies();
    const session = cookies.find((cookie) => cookie.name === 'ls_session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    await screenshot(page, '21-bank-aggregation');

    // Drawing 8: create a temporary account from a payee ID and an amount.
    await page.getByRole('link', { name: 'Create a temporary account' }).click();
    await page.getByLabel('Payee ID').fill(demoLogins.seller.userId);
    await page.getByLabel('Amount').fill('10500');
    await screenshot(page, '22-bank-create');
    await page.getByRole('button', { name: 'Create and fund' }).click();
    await page.getByText('The temporary account was created and funded.').waitFor();
    const code = (await page.locator('h1 code').textContent()) as string;
    // Drawing 9: the [0033] row: the code, Mizuta and IBM, 10,500 JPY, locks 1 / 0.
    await expect(page.locator('[data-field="balance"]').textContent()).resolves.toBe('10,500 JPY');
    await expect(page.locator('tr[data-party="buyer"] [data-field="lock"]').textContent()).resolves.toBe(
      'on (1)',
    );
    await expect(page.locator('tr[data-party="seller"] [data-field="lock"]').textContent()).resolves.toBe(
      'off',
    );
    await screenshot(page, '23-bank-status-buyer');

    // The seller opens the same account in its own session; the buyer's page updates live.
    const sellerPage = await logIn(seller, demoLogins.seller);
    await sellerPage.getByRole('link', { name: code }).click();
    // While the buyer's lock is on, the seller cannot take the money: refused, nothing moves.
    await sellerPage.getByRole('button', { name: 'Withdraw' }).click();
    await sellerPage.getByRole('alert').getByText("another party's lock is on").waitFor();
    await sellerPage.getByRole('button', { name: 'Lock (turn my lock on)' }).click();
    await sellerPage.getByText('Your lock is on.').waitFor();
    await screenshot(sellerPage, '24-bank-status-seller-locked');
    await page.locator('tr[data-party="seller"] [data-field="lock"]').getByText('on (1)').waitFor();
    await screenshot(page, '25-bank-status-buyer-live');

    // The buyer releases; the seller withdraws everything; the account dissolves.
    await page.getByRole('button', { name: 'Release payment (goods received)' }).click();
    await page.getByText('You released the payment.').waitFor();
    await sellerPage.reload();
    await sellerPage.getByRole('button', { name: 'Withdraw' }).click();
    await sellerPage.getByText('Withdrawn to your usual account.').waitFor();
    await expect(sellerPage.locator('[data-field="status"]').textContent()).resolves.toBe('Dissolved');
    await page.locator('[data-field="status"]').getByText('Dissolved').waitFor();

    // Drawing 10: the aggregation after the deal.
    await sellerPage.goto(`${gateway.url}/bank`);
    await expect(sellerPage.locator('[data-field="usual-balance"]').first().textContent()).resolves.toBe(
      '10,500 JPY',
    );
    await screenshot(sellerPage, '26-bank-aggregation-seller-after');
    await page.goto(`${gateway.url}/bank`);
    await expect(page.locator('[data-field="usual-balance"]').first().textContent()).resolves.toBe(
      '89,500 JPY',
    );
    await screenshot(page, '27-bank-aggregation-buyer-after');
  }, 90_000);

  /**
   * A funded deal of the buyer's, its bank page open in a fresh window tall enough not to
   * scroll, and the cursor resting on Release: a window another site put under the cursor.
   */
  async function releaseUnderCursor() {
    const token = await gateway.buyerToken();
    const code = (
      await gateway.request('POST', '/v1/temporary-accounts', {
        token,
        body: { payeeUserId: demoLogins.seller.userId, amountMinor: 700, currency: 'JPY' },
      })
    ).body.code as string;
    const verdict = async () =>
      (await gateway.request('GET', `/v1/temporary-accounts/${code}`, { token })).body.verdict;
    const fresh = await browser.newContext({ viewport: { width: 1000, height: 1600 } });
    const page = await logIn(fresh, demoLogins.buyer);
    await page.goto(`${gateway.url}/bank/temporary-accounts/${code}`);
    const release = page.getByRole('button', { name: 'Release payment (goods received)' });
    // (The live region may swap the button just then: ask until it is there.)
    await expect.poll(() => release.boundingBox()).not.toBeNull();
    const box = (await release.boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    return { code, verdict, fresh, page, release };
  }

  it('takes no click on Release from a window another site put under the cursor', async () => {
    // The buyer's clicks meant for the other site land on Release while the page is new, and
    // keep coming.
    const { code, verdict, fresh, page, release } = await releaseUnderCursor();
    for (let click = 0; click < 12; click++) {
      await page.mouse.down();
      await page.mouse.up();
      await page.waitForTimeout(100);
    }
    expect(new URL(page.url()).pathname).toBe(`/bank/temporary-accounts/${code}`);
    expect(await verdict()).toBeNull();
    // Once it has the buyer's attention, a click without moving the pointer still does nothing.
    await expect.poll(() => release.getAttribute('aria-disabled'), { timeout: 5_000 }).toBe('false');
    await page.mouse.down();
    await page.mouse.up();
    await page.waitForTimeout(300);
    expect(await verdict()).toBeNull();
    // The page says what to do instead of dropping the click without a word.
    await expect(page.locator('.guard-note').textContent()).resolves.toContain('move the pointer onto it');
    // The buyer's own deliberate click releases.
    await release.click();
    await page.getByText('You released the payment.').waitFor();
    expect(await verdict()).toBe('accepted');
    await fresh.close();
  }, 60_000);

  it('takes the press of a screen reader on the button it focused, with no pointer move', async () => {
    // A screen reader focuses the button, then presses it with a simulated mouse click that no
    // pointer move precedes (helper-48's review: its users could never release or pay in).
    const { verdict, fresh, page, release } = await releaseUnderCursor();
    await expect.poll(() => release.getAttribute('aria-disabled'), { timeout: 5_000 }).toBe('false');
    await release.focus();
    await page.mouse.down();
    await page.mouse.up();
    await page.getByText('You released the payment.').waitFor();
    expect(await verdict()).toBe('accepted');
    await fresh.close();
  }, 60_000);
});
