import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../packages/gateway/src/config.ts';
import { openGateway } from '../../packages/gateway/src/main.ts';
import { openStore } from '../../packages/gateway/src/storage/open.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import { startTestGateway } from '../support/gateway.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { feedAccount, feedCustomer, feedEvent, feedNow } from './fixtures/feed-records.ts';

const root = path.resolve(import.meta.dirname, '../..');
const node = [
  process.execPath,
  '--experimental-strip-types',
  '--experimental-sqlite',
  '--disable-warning=ExperimentalWarning',
];

function admin(dataDir: string, ...args: string[]) {
  return adminWith(dataDir, {}, ...args);
}

function adminWith(dataDir: string, env: Record<string, string>, ...args: string[]) {
  return execFileSync(node[0] as string, [...node.slice(1), 'packages/gateway/src/cli.ts', ...args], {
    cwd: root,
    env: { ...process.env, LOCKSTEP_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env },
    encoding: 'utf8',
  });
}

describe('operations', () => {
  it('the operator CLI creates customers, accounts, merchants and keys, tops up, and reconciles', () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-cli-'));
    const customer = JSON.parse(
      admin(dataDir, 'customer:create', '--user-id', 'sato', '--name', 'Sato', '--password', 'sato-password'),
    );
    const account = JSON.parse(
      admin(dataDir, 'account:create', '--customer', customer.id, '--currency', 'JPY'),
    );
    admin(dataDir, 'top-up', '--account', account.id, '--amount-minor', '12345');
    const merchant = JSON.parse(
      admin(
        dataDir,
        'merchant:create',
        '--customer',
        customer.id,
        '--name',
        'Sato Shop',
        '--origin',
        'https://sato.example',
      ),
    );
    expect(merchant.secretKey).toMatch(/^sk_/);
    expect(merchant.publishableKey).toMatch(/^pk_/);
    // Keys are listed for the operator without their hashes; a revoked one shows when.
    const extra = JSON.parse(admin(dataDir, 'key:create', '--merchant', customer.id, '--kind', 'secret'));
    expect(
      JSON.parse(admin(dataDir, 'key:revoke', '--merchant', customer.id, '--key', extra.id)),
    ).toMatchObject({
      keyId: extra.id,
      revoked: true,
      alreadyRevoked: false,
    });
    const keys = JSON.parse(admin(dataDir, 'key:list', '--merchant', customer.id));
    expect(keys).toHaveLength(3);
    expect(keys.map((key: { kind: string }) => key.kind).sort()).toEqual(['publishable', 'secret', 'secret']);
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(['createdAt', 'id', 'kind', 'prefix', 'revokedAt']);
      expect(key.revokedAt === null).toBe(key.id !== extra.id);
    }
    const listed = keys.find((key: { id: string }) => key.id === extra.id);
    expect(listed.prefix.length).toBeGreaterThan(3);
    expect(extra.key.startsWith(listed.prefix)).toBe(true);
    expect(() => admin(dataDir, 'key:list', '--merchant', 'cus_nobody')).toThrow(/No such merchant/);
    const report = JSON.parse(admin(dataDir, 'reconcile'));
    expect(report.balanced).toBe(true);
    expect(report.perCurrency).toEqual([
      {
        currency: 'JPY',
        usualMinor: 12_345,
        temporaryMinor: 0,
        feesMinor: 0,
        externalMinor: -12_345,
        totalMinor: 0,
      },
    ]);
    expect(() => admin(dataDir, 'top-up', '--account', account.id, '--amount-minor', '1.5')).toThrow();
  });

  it('the operator CLI resolves a dispute for one side, and refuses what is not a decision', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-cli-dispute-'));
    const store = await openSqliteStore({ path: path.join(dataDir, 'lockstep.sqlite') });
    const bank = await startTestGateway({ store });
    const buyer = await bank.buyerToken();
    const seller = bank.seed.secretKey;
    const created = await bank.request('POST', '/v1/temporary-accounts', {
      token: buyer,
      body: { payeeUserId: 'ibm-shop', amountMinor: 5_000, currency: 'JPY' },
    });
    const code = created.body.code as string;
    const steps: Array<[string, string, unknown]> = [
      [seller, 'lock', {}],
      [seller, 'ship', { carrier: 'Yamato', trackingNumber: 'YT-CLI' }],
      [buyer, 'reject', { reason: 'not as described' }],
    ];
    for (const [token, action, body] of steps) {
      expect(
        (await bank.request('POST', `/v1/temporary-accounts/${code}/${action}`, { token, body })).status,
      ).toBe(200);
    }
    await bank.close();

    const refused = (...args: string[]) => {
      try {
        admin(dataDir, 'dispute:resolve', ...args);
      } catch (error) {
        return {
          status: (error as { status: number }).status,
          stderr: String((error as { stderr: string }).stderr),
        };
      }
      throw new Error(`dispute:resolve ${args.join(' ')} succeeded`);
    };
    // Mistakes on the command line exit 2, a refused operation 1.
    expect(refused('--account', code)).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--for is required/),
    });
    expect(refused('--account', code, '--for', 'bank')).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/for the buyer or the seller/),
    });
    expect(refused('--account', 'ta_nosuchaccount', '--for', 'buyer')).toMatchObject({
      status: 1,
      stderr: expect.stringMatching(/No such temporary account/),
    });
    const resolved = JSON.parse(
      admin(
        dataDir,
        'dispute:resolve',
        '--account',
        code,
        '--for',
        'seller',
        '--reason',
        'delivered as described',
      ),
    );
    expect(resolved.code).toBe(code);
    expect(resolved.dispute).toMatchObject({ resolvedFor: 'seller', reason: 'delivered as described' });
    const lockOf = (role: string) =>
      resolved.parties.find((party: { role: string }) => party.role === role)?.lockPpm;
    expect([lockOf('seller'), lockOf('buyer')]).toEqual([1_000_000, 0]);
    // Decided once: a second decision is refused, and the first stands.
    expect(refused('--account', code, '--for', 'buyer')).toMatchObject({ status: 1 });
    const after = await openSqliteStore({ path: path.join(dataDir, 'lockstep.sqlite') });
    const account = await after.read((reader) => reader.getTemporaryAccount(code));
    await after.close();
    expect(account?.dispute).toMatchObject({ resolvedFor: 'seller' });
  });

  it('reconcile finds a balance that is not the sum of its postings, though every total is zero', async () => {
    // Money moved between two accounts with no journal entry (a bad manual fix, a partial
    // restore): every per-currency total stayed zero, so it reported balanced (helper-43).
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-reconcile-'));
    const file = path.join(dataDir, 'lockstep.sqlite');
    const bank = await startTestGateway({ store: await openSqliteStore({ path: file }) });
    const { buyerAccountId, sellerAccountId } = bank.seed;
    await bank.close();
    expect(JSON.parse(admin(dataDir, 'reconcile')).balanced).toBe(true);
    const raw = new DatabaseSync(file);
    const move = raw.prepare(
      'UPDATE ledger_accounts SET balance_minor = balance_minor + ? WHERE ledger_key = ?',
    );
    move.run(-60_000, `usual:${buyerAccountId}`);
    move.run(60_000, `usual:${sellerAccountId}`);
    raw.close();
    let failed: { status: number; stdout: string } | undefined;
    try {
      admin(dataDir, 'reconcile');
    } catch (error) {
      failed = error as { status: number; stdout: string };
    }
    // Exit 3, not 1: a reconciliation that could not run exits 1 (helper-105).
    expect(failed?.status).toBe(3);
    const report = JSON.parse(failed?.stdout ?? '{}');
    expect(report).toMatchObject({ balanced: false, unbalancedEntries: [], temporaryMismatches: [] });
    expect(report.perCurrency.every((row: { totalMinor: number }) => row.totalMinor === 0)).toBe(true);
    expect(report.ledgerMismatches.sort()).toEqual(
      [`usual:${buyerAccountId}`, `usual:${sellerAccountId}`].sort(),
    );
  });

  it('configuration is validated with a clear message naming the variable', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
    // A bad schedule is one line naming where it is wrong (helper-105: zod's issue list as JSON).
    const commission = (text: string) => {
      try {
        loadConfig({ LOCKSTEP_COMMISSION: text });
      } catch (error) {
        return (error as Error).message.split('\n');
      }
    };
    expect(commission('{"creation":{"JPY":{"flatMinor":1.5,"basisPoints":0}},"withdrawal":{}}')).toEqual([
      'Invalid configuration:',
      expect.stringMatching(
        /^ {2}LOCKSTEP_COMMISSION: not a valid commission schedule: creation\.JPY\.flatMinor: .+$/,
      ),
    ]);
    expect(commission('{creation')).toEqual([
      'Invalid configuration:',
      expect.stringMatching(/^ {2}LOCKSTEP_COMMISSION: not JSON: /),
    ]);
    expect(loadConfig({ PORT: '4100' })).toMatchObject({ port: 4100, publicUrl: 'http://localhost:4100' });
    // An empty value is not 0 (a random port, no shutdown grace), and the public URL is http(s):
    // javascript: had the origin "null" (helper-43's review).
    expect(() => loadConfig({ PORT: '' })).toThrow(/PORT: must be a whole number/);
    expect(() => loadConfig({ LOCKSTEP_SHUTDOWN_GRACE_MS: '' })).toThrow(/LOCKSTEP_SHUTDOWN_GRACE_MS/);
    expect(() => loadConfig({ LOCKSTEP_TRUSTED_PROXY_HOPS: ' 1' })).toThrow(/LOCKSTEP_TRUSTED_PROXY_HOPS/);
    expect(() => loadConfig({ LOCKSTEP_PUBLIC_URL: 'javascript:alert(1)' })).toThrow(/LOCKSTEP_PUBLIC_URL/);
    expect(loadConfig({}).port).toBe(4000);
    // Stored answers: 7 days by default, never under a day (retries of a lost answer must find it).
    expect(loadConfig({}).idempotencyRetentionMs).toBe(7 * 24 * 3_600_000);
    expect(loadConfig({ LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS: '48' }).idempotencyRetentionMs).toBe(
      48 * 3_600_000,
    );
    expect(() => loadConfig({ LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS: '1' })).toThrow(
      /LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS/,
    );
    // The PostgreSQL pool and the demo seed's variables are validated like the rest (the demo's
    // were read raw: a balance of "abc" crashed the start with a stack trace, helper-50).
    expect(loadConfig({}).pgPoolSize).toBe(10);
    expect(loadConfig({ LOCKSTEP_PG_POOL_SIZE: '25' }).pgPoolSize).toBe(25);
    expect(() => loadConfig({ LOCKSTEP_PG_POOL_SIZE: '0' })).toThrow(/LOCKSTEP_PG_POOL_SIZE/);
    expect(loadConfig({}).demo).toEqual({ origins: ['http://localhost:3000'], buyerBalanceMinor: 100_000 });
    expect(
      loadConfig({
        LOCKSTEP_DEMO_ORIGINS: 'http://localhost:3000, https://shop.example',
        LOCKSTEP_DEMO_BUYER_BALANCE_MINOR: '500',
      }).demo,
    ).toEqual({ origins: ['http://localhost:3000', 'https://shop.example'], buyerBalanceMinor: 500 });
    expect(() => loadConfig({ LOCKSTEP_DEMO_BUYER_BALANCE_MINOR: 'abc' })).toThrow(
      /LOCKSTEP_DEMO_BUYER_BALANCE_MINOR/,
    );
    expect(() => loadConfig({ LOCKSTEP_DEMO_BUYER_BALANCE_MINOR: '0' })).toThrow(
      /LOCKSTEP_DEMO_BUYER_BALANCE_MINOR/,
    );
    // As merchant:create checks origins: no path, wildcard or credentials (helper-55's review).
    for (const origin of [
      'javascript:x',
      'http://localhost:3000/shop',
      'http://*.example.com',
      'http://u:p@localhost:3000',
    ]) {
      expect(() => loadConfig({ LOCKSTEP_DEMO_ORIGINS: origin }), origin).toThrow(/LOCKSTEP_DEMO_ORIGINS/);
    }
    expect(loadConfig({ LOCKSTEP_DEMO_ORIGINS: 'HTTP://Shop.Example:80/' }).demo.origins).toEqual([
      'http://shop.example',
    ]);
  });

  it.skipIf(!pgAvailable())('opens PostgreSQL with the configured pool size', async () => {
    const database = await createTestDatabase();
    const store = await openStore({ databaseUrl: database.url, dataDir: tmpdir(), pgPoolSize: 3 });
    try {
      // Five units at once, each holding its connection: at most three connect.
      let concurrent = 0;
      let peak = 0;
      await Promise.all(
        Array.from({ length: 5 }, () =>
          store.read(async (reader) => {
            concurrent++;
            peak = Math.max(peak, concurrent);
            await reader.getCustomer('cus_none');
            await new Promise((resolve) => setTimeout(resolve, 50));
            concurrent--;
          }),
        ),
      );
      expect(peak).toBe(3);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});

describe('the operator CLI beside the gateway', () => {
  it('delivers no webhooks of its own (the gateway does)', async () => {
    const { createServer } = await import('node:http');
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      received.push(String(request.headers['lockstep-event-id']));
      response.end('ok');
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const port = (receiver.address() as { port: number }).port;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-cli-webhooks-'));
    // A delivery due now, queued straight into the store.
    const store = await openSqliteStore({ path: path.join(dataDir, 'lockstep.sqlite') });
    await store.transaction(async (tx) => {
      for (const id of ['cus_shop', 'cus_buyer']) await tx.insertCustomer(feedCustomer(id));
      await tx.upsertMerchant({
        customerId: 'cus_shop',
        name: 'Shop',
        allowedOrigins: [],
        createdAt: feedNow,
      });
      await tx.insertTemporaryAccount(feedAccount('ta_due', ['cus_buyer', 'cus_shop']));
      const [event] = await tx.appendEvents([feedEvent('ta_due', 1)]);
      await tx.insertWebhookEndpoint({
        id: 'we_1',
        merchantId: 'cus_shop',
        url: `http://127.0.0.1:${port}/hook`,
        enabled: true,
        createdAt: feedNow,
      });
      await tx.insertOutbox([
        {
          id: 'wd_1',
          endpointId: 'we_1',
          eventId: event?.id as string,
          accountCode: 'ta_due',
          seq: 1,
          attemptCount: 0,
          nextAttemptAt: feedNow,
          deliveredAt: null,
          lastError: null,
        },
      ]);
    });
    await store.close();
    const env = { LOCKSTEP_ALLOW_PRIVATE_WEBHOOKS: '1' };
    try {
      JSON.parse(adminWith(dataDir, env, 'reconcile'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(received).toEqual([]);
      // The gateway, started on the same data, delivers it.
      const gateway = await openGateway(
        loadConfig({ LOCKSTEP_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env }),
      );
      try {
        await vi.waitFor(() => expect(received).toHaveLength(1), { timeout: 10_000 });
      } finally {
        await gateway.close();
      }
    } finally {
      receiver.close();
    }
  });
});

describe('the gateway process', () => {
  it('starts on the embedded store, prints its URL, answers, and shuts down cleanly on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'lockstep-main-'));
    const child = spawn(node[0] as string, [...node.slice(1), 'packages/gateway/src/bin.ts'], {
      cwd: root,
      env: { ...process.env, PORT: '0', LOCKSTEP_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        const match = /listening on (http:\/\/localhost:\d+)/.exec(chunk.toString());
        if (match) resolve(match[1] as string);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true, store: 'sqlite' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('operator top-ups', () => {
  it('apply once per reference, so rerunning one after an unknown outcome is safe', async () => {
    const gateway = await startTestGateway();
    try {
      const account = gateway.seed.buyerAccountId;
      const balance = async () =>
        (await gateway.gateway.bank.read((reader) => reader.getUsualAccount(account)))?.balanceMinor;
      const before = await balance();
      await gateway.admin.topUp(account, 500, 'slip-0001');
      await gateway.admin.topUp(account, 500, 'slip-0001');
      expect(await balance()).toBe((before as number) + 500);
      await expect(gateway.admin.topUp(account, 700, 'slip-0001')).rejects.toMatchObject({
        code: 'idempotency_key_reused',
      });
      const fresh = await gateway.admin.topUp(account, 1);
      expect(fresh.reference).toMatch(/^topup_/);
      expect(await balance()).toBe((before as number) + 501);
    } finally {
      await gateway.close();
    }
  });
});

describe('merchant origins', () => {
  it('are stored as browsers send them, and wildcards or paths are refused', async () => {
    const gateway = await startTestGateway();
    try {
      const create = async (origin: string) => {
        const customer = await gateway.admin.createCustomer({
          userId: `shop-${Math.random().toString(36).slice(2, 8)}`,
          displayName: 'Shop',
          password: 'shop-pass-123',
        });
        await gateway.admin.createMerchant(customer.id, { name: 'Shop', allowedOrigins: [origin] });
        return (await gateway.gateway.bank.read((reader) => reader.getMerchant(customer.id)))?.allowedOrigins;
      };
      expect(await create('https://Shop.Example:443')).toEqual(['https://shop.example']);
      expect(await create('http://localhost:3000/')).toEqual(['http://localhost:3000']);
      for (const bad of [
        'https://*',
        'https://*.example',
        'https://shop.example/path',
        'ftp://shop.example',
        'shop',
      ]) {
        await expect(create(bad)).rejects.toMatchObject({ code: 'validation_failed' });
      }
    } finally {
      await gateway.close();
    }
  });
});

describe('webhook URLs', () => {
  it('must be public: loopback, private and metadata addresses are refused by default', async () => {
    const { createGateway } = await import('../../packages/gateway/src/gateway.ts');
    const { openSqliteStore } = await import('../../packages/gateway/src/storage/sqlite.ts');
    const { Admin } = await import('../../packages/gateway/src/service/admin.ts');
    const { seedDemo } = await import('../../packages/gateway/src/seed.ts');
    const gateway = await createGateway({
      store: await openSqliteStore({ path: ':memory:' }),
      publicUrl: 'https://gateway.test',
      commission: { creation: {}, withdrawal: {} },
      logLevel: 'silent',
      webhooks: false,
    });
    try {
      const seed = await seedDemo(new Admin(gateway.bank), { allowedOrigins: [] });
      const register = (url: string) =>
        gateway.app.request('/v1/webhook-endpoints', {
          method: 'POST',
          headers: { authorization: `Bearer ${seed.secretKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ url }),
        });
      for (const url of [
        'http://169.254.169.254/latest/meta-data',
        'http://127.0.0.1:5432/',
        'http://localhost:3000/hooks',
        'http://10.1.2.3/hooks',
        'http://[::1]/hooks',
        // Fully qualified names (a trailing dot) name the same hosts.
        'http://localhost./hooks',
        'http://api.localhost./hooks',
        'http://metadata.google.internal./',
        'http://127.0.0.1./hooks',
      ]) {
        const refused = await register(url);
        expect(refused.status, url).toBe(400);
        expect((await refused.json()).error.code).toBe('validation_failed');
      }
      expect((await register('https://shop.example/hooks')).status).toBe(201);
    } finally {
      await gateway.close();
    }
  });
});
