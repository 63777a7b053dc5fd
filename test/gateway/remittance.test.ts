import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoCommission, loadConfig } from '../../packages/gateway/src/config.ts';
import { openGateway } from '../../packages/gateway/src/main.ts';
import type { Reconciliation } from '../../packages/gateway/src/service/admin.ts';
import { startTestGateway } from '../support/gateway.ts';
import { nodeFlags, root } from '../support/gateway-process.ts';

/**
 * Rule 7 ([0023], step 113): a buyer with no usual account gets a deal awaiting a remittance,
 * and the money comes from outside the bank (another bank's transfer, cash at the counter): the
 * operator books it into the temporary account (`lockstep-admin remit`). The deal then runs as
 * any other. The demo commission: ¥100 to open (kept from the remittance), 1% of the payout.
 */

const newBuyer = { userId: 'suzuki', displayName: 'Suzuki', password: 'suzuki-pass-1' };

function balancedTotals(report: Reconciliation) {
  expect(report.balanced, JSON.stringify(report)).toBe(true);
  const { usualMinor, temporaryMinor, feesMinor, externalMinor } = report.perCurrency[0] ?? {};
  return { usualMinor, temporaryMinor, feesMinor, externalMinor };
}

describe('a remittance into a temporary account (Admin, over HTTP)', () => {
  it('funds the deal of a buyer with no usual account, once per reference; refusals change nothing', async () => {
    const bank = await startTestGateway({ commission: demoCommission });
    try {
      const { admin } = bank;
      const books = async () => balancedTotals(await admin.reconcile());
      const post = (token: string, pathname: string, body: unknown = {}) =>
        bank.request('POST', pathname, { token, body });
      await admin.createCustomer(newBuyer);
      const buyer = await bank.login(newBuyer.userId, newBuyer.password);
      const seller = bank.seed.secretKey;

      const created = await post(buyer, '/v1/temporary-accounts', {
        payeeUserId: 'ibm-shop',
        amountMinor: 5_000,
        currency: 'JPY',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        status: 'awaiting_funds',
        balanceMinor: 0,
        creationFeeDueMinor: 100,
      });
      const code = created.body.code as string;
      const at = `/v1/temporary-accounts/${code}`;
      // The gap this closes: a pay-in needs a usual account.
      const payIn = await post(buyer, `${at}/deposit`, { amountMinor: 5_000 });
      expect(payIn.status).toBe(404);
      expect(payIn.body.error.message).toBe('You have no usual account in JPY.');

      const view = async () => (await bank.request('GET', at, { token: buyer })).body;
      const history = async () => (await bank.request('GET', `${at}/events`, { token: buyer })).body.data;
      const still = async () => ({ account: await view(), events: await history(), books: await books() });
      const before = await still();

      // Refused: over the amount and fee due, no such account, not an amount. Nothing changes,
      // and the refused slip's reference stays free for the right remittance.
      await expect(admin.remit(code, 5_101, 'slip-1')).rejects.toMatchObject({
        code: 'exceeds_amount_due',
        details: { dueMinor: 5_000, feeDueMinor: 100, requestedMinor: 5_101 },
      });
      await expect(admin.remit('ta_nosuchaccount', 5_100, 'slip-x')).rejects.toMatchObject({
        code: 'not_found',
      });
      for (const bad of [0, -5, 1.5]) {
        await expect(admin.remit(code, bad, 'slip-y'), String(bad)).rejects.toMatchObject({
          code: 'invalid_amount',
        });
      }
      await expect(admin.remit(code, 100, 'slip-z')).rejects.toMatchObject({ code: 'insufficient_funds' });
      expect(await still()).toEqual(before);

      const remitted = await admin.remit(code, 5_100, 'slip-1');
      expect(remitted).toEqual({
        reference: 'slip-1',
        code,
        remittedMinor: 5_100,
        creditedMinor: 5_000,
        feeMinor: 100,
        balanceMinor: 5_000,
        requiredMinor: 5_000,
        status: 'funded',
        replayed: false,
      });
      const funded = await still();
      expect(funded.books).toEqual({
        usualMinor: before.books.usualMinor,
        temporaryMinor: 5_000,
        feesMinor: 100,
        externalMinor: (before.books.externalMinor as number) - 5_100,
      });
      expect(funded.account).toMatchObject({ status: 'funded', balanceMinor: 5_000, creationFeeDueMinor: 0 });
      const buyerParty = funded.account.parties.find((party: { role: string }) => party.role === 'buyer');
      expect(buyerParty).toMatchObject({ lockPpm: 1_000_000 });
      const deposited = funded.events.find((event: { type: string }) => event.type === 'account.deposited');
      expect(deposited).toMatchObject({
        actor: 'bank',
        data: { amountMinor: 5_000, feeMinor: 100, fromAccountId: null, source: 'remittance' },
      });
      expect(funded.events.slice(before.events.length).map((event: { type: string }) => event.type)).toEqual([
        'account.deposited',
        'account.funded',
      ]);

      // Run again with the same slip: the first answer, nothing moved twice; another amount
      // under that slip is refused.
      expect(await admin.remit(code, 5_100, 'slip-1')).toEqual({ ...remitted, replayed: true });
      await expect(admin.remit(code, 4_000, 'slip-1')).rejects.toMatchObject({
        code: 'idempotency_key_reused',
      });
      expect(await still()).toEqual(funded);
      // A second slip for a deal already paid up is refused.
      await expect(admin.remit(code, 1, 'slip-2')).rejects.toMatchObject({ code: 'exceeds_amount_due' });

      // The deal runs as any other.
      for (const [token, action, body] of [
        [seller, 'lock', {}],
        [seller, 'ship', { carrier: 'Yamato', trackingNumber: 'YT-REMIT' }],
        [buyer, 'accept', {}],
      ] as const) {
        expect((await post(token, `${at}/${action}`, body)).status, action).toBe(200);
        await books();
      }
      const paid = await post(seller, `${at}/withdraw`);
      expect(paid.status).toBe(200);
      expect(paid.body).toMatchObject({ status: 'dissolved', balanceMinor: 0 });
      const done = await still();
      expect(done.books).toEqual({
        usualMinor: (before.books.usualMinor as number) + 4_950,
        temporaryMinor: 0,
        feesMinor: 150,
        externalMinor: (before.books.externalMinor as number) - 5_100,
      });

      await expect(admin.remit(code, 100, 'slip-3')).rejects.toMatchObject({ code: 'account_dissolved' });
      expect(await still()).toEqual(done);
    } finally {
      await bank.close();
    }
  });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(dataDir: string, ...args: string[]): Run {
  const { DATABASE_URL: _inherited, ...inherited } = process.env;
  const { status, stdout, stderr } = spawnSync(
    process.execPath,
    [...nodeFlags, 'packages/gateway/src/cli.ts', ...args],
    {
      cwd: root,
      env: { ...inherited, LOG_LEVEL: 'silent', PORT: '0', LOCKSTEP_DATA_DIR: dataDir },
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { status, stdout, stderr };
}

const lockOf = (account: { parties: Array<{ role: string; lockPpm: number }> }, role: string) =>
  account.parties.find((party) => party.role === role)?.lockPpm;

function ok<T = Record<string, unknown>>(result: Run): T {
  expect(result, result.stderr).toMatchObject({ status: 0 });
  return JSON.parse(result.stdout) as T;
}

/**
 * The gateway on the CLI's data folder, for a few requests, then closed again: on the embedded
 * store the operator runs the CLI beside a stopped gateway.
 */
async function withGateway<T>(
  dataDir: string,
  work: (
    post: (token: string, pathname: string, body?: unknown) => Promise<{ status: number; body: any }>,
  ) => Promise<T>,
): Promise<T> {
  const gateway = await openGateway(loadConfig({ LOCKSTEP_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), {
    webhooks: false,
    housekeeping: false,
    deadlines: false,
  });
  try {
    return await work(async (token, pathname, body = {}) => {
      const response = await gateway.app.request(pathname, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    });
  } finally {
    await gateway.close();
  }
}

describe('lockstep-admin remit', () => {
  it('an awaiting-funds deal of a customer with no usual account: remitted once, then shipped, accepted and paid out', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-cli-remit-'));
    const seed = ok<{ secretKey: string }>(cli(dataDir, 'seed-demo'));
    ok(
      cli(
        dataDir,
        'customer:create',
        '--user-id',
        newBuyer.userId,
        '--name',
        newBuyer.displayName,
        '--password',
        newBuyer.password,
      ),
    );
    const books = () => balancedTotals(ok<Reconciliation>(cli(dataDir, 'reconcile')));
    const login = async (post: Parameters<Parameters<typeof withGateway>[1]>[0]) =>
      (await post('', '/v1/sessions', { userId: newBuyer.userId, password: newBuyer.password })).body
        .token as string;

    // The shop opens the deal for the buyer to pay in: the buyer's lock is off until it does.
    const code = await withGateway(dataDir, async (post) => {
      const created = await post(seed.secretKey, '/v1/temporary-accounts', {
        buyerUserId: newBuyer.userId,
        amountMinor: 5_000,
        currency: 'JPY',
      });
      expect(created.body).toMatchObject({ status: 'awaiting_funds', creationFeeDueMinor: 100 });
      expect(lockOf(created.body, 'buyer')).toBe(0);
      return created.body.code as string;
    });
    const before = books();

    // Mistakes on the command line: exit 2 with the usage, before the store is opened.
    for (const [args, message] of [
      [
        ['--account', code, '--amount-minor', '5100.0', '--reference', 'slip-7'],
        /^--amount-minor is a positive whole number/,
      ],
      [
        ['--account', code, '--amount-minor', '0x10', '--reference', 'slip-7'],
        /^--amount-minor is a positive whole number/,
      ],
      [['--amount-minor', '5100'], /^--account is required\./],
      [['--account', code], /^--amount-minor is required\./],
      [['--account', code, '--amount-minor', '5100'], /^--reference is required\./],
      [
        ['--account', code, '--amount-minor', '5100', '--reference', 'slip\u00a07'],
        /^--reference is 1 to 255/,
      ],
    ] as const) {
      const refused = cli(dataDir, 'remit', ...args);
      expect(refused.status, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(message);
      expect(refused.stderr).toMatch(/Usage: pnpm lockstep-admin/);
    }
    // Refused by the bank's rules: exit 1, the reason, nothing changed, and no advice to rerun,
    // which would only be refused again (helper-105).
    for (const [args, message, refusal] of [
      [
        ['--account', 'ta_nosuchaccount', '--amount-minor', '5100', '--reference', 'slip-7'],
        /No such temporary account/,
        'not_found',
      ],
      [
        ['--account', code, '--amount-minor', '5101', '--reference', 'slip-7'],
        /remit at most 5100/,
        'exceeds_amount_due',
      ],
    ] as const) {
      const refused = cli(dataDir, 'remit', ...args);
      expect(refused).toMatchObject({ status: 1, stdout: '' });
      expect(refused.stderr).toMatch(message);
      expect(refused.stderr).toContain(`Remittance slip-7 was refused (${refusal}); nothing changed.`);
      expect(refused.stderr).not.toMatch(/run it again/);
    }
    expect(books()).toEqual(before);

    const args = ['remit', '--account', code, '--amount-minor', '5100', '--reference', 'slip-7'];
    const remitted = ok(cli(dataDir, ...args));
    expect(remitted).toMatchObject({
      ok: true,
      reference: 'slip-7',
      code,
      creditedMinor: 5_000,
      feeMinor: 100,
      status: 'funded',
      replayed: false,
    });
    const funded = books();
    expect(funded).toEqual({
      ...before,
      temporaryMinor: 5_000,
      feesMinor: 100,
      externalMinor: (before.externalMinor as number) - 5_100,
    });
    // The rerun after an unknown outcome: applied before, nothing changed.
    const again = cli(dataDir, ...args);
    expect(ok(again)).toEqual({ ...remitted, replayed: true });
    expect(again.stderr).toMatch(/slip-7 was applied before; nothing changed/);
    expect(books()).toEqual(funded);

    await withGateway(dataDir, async (post) => {
      const buyer = await login(post);
      const at = `/v1/temporary-accounts/${code}`;
      // The remittance turned the buyer's lock on, as the buyer's pay-in does.
      const locked = await post(seed.secretKey, `${at}/lock`);
      expect(locked.status).toBe(200);
      expect([lockOf(locked.body, 'buyer'), lockOf(locked.body, 'seller')]).toEqual([1_000_000, 1_000_000]);
      expect(
        (await post(seed.secretKey, `${at}/ship`, { carrier: 'Yamato', trackingNumber: 'YT-7' })).status,
      ).toBe(200);
      expect((await post(buyer, `${at}/accept`)).status).toBe(200);
      expect((await post(seed.secretKey, `${at}/withdraw`)).body).toMatchObject({ status: 'dissolved' });
    });
    const paid = books();
    expect(paid).toEqual({
      ...funded,
      usualMinor: (funded.usualMinor as number) + 4_950,
      temporaryMinor: 0,
      feesMinor: 150,
    });

    const dissolved = cli(
      dataDir,
      'remit',
      '--account',
      code,
      '--amount-minor',
      '100',
      '--reference',
      'slip-8',
    );
    expect(dissolved.status).toBe(1);
    expect(dissolved.stderr).toMatch(/dissolved/);
    expect(books()).toEqual(paid);
  }, 180_000);
});
