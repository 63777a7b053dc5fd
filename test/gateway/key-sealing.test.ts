import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/gateway/src/config.ts';
import { startGateway, stopGateway } from '../../packages/gateway/src/main.ts';
import { KeySealingError } from '../../packages/gateway/src/service/keys.ts';

/**
 * The private signing keys at rest: with LOCKSTEP_KEY_ENCRYPTION_KEY they are stored sealed, so
 * a copy of the database cannot sign; the gateway refuses to start on keys it cannot open.
 */
const root = path.resolve(import.meta.dirname, '../..');
const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function dataDir(): string {
  const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-sealing-'));
  folders.push(folder);
  return folder;
}

const newKek = () => randomBytes(32).toString('base64url');

/** The real start-up path (`pnpm gateway`) in this process, on the embedded store in `dir`. */
async function run<T>(
  dir: string,
  kek: string | undefined,
  work: (
    call: (method: string, pathname: string, body?: unknown, token?: string) => Promise<any>,
  ) => Promise<T>,
  options: { seed?: boolean } = {},
): Promise<{ value: T; secretKey: string | undefined }> {
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    LOCKSTEP_DATA_DIR: dir,
    LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
    ...(options.seed ? { LOCKSTEP_SEED_DEMO: '1' } : {}),
    ...(kek ? { LOCKSTEP_KEY_ENCRYPTION_KEY: kek } : {}),
  });
  const { gateway, server, seed } = await startGateway(config);
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  try {
    const call = async (method: string, pathname: string, body?: unknown, token?: string) => {
      const response = await fetch(base + pathname, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(method === 'POST' ? { 'idempotency-key': randomBytes(8).toString('hex') } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    return { value: await work(call), secretKey: seed?.secretKey };
  } finally {
    await stopGateway(gateway, server, 1_000);
  }
}

/** The stored private JWKs, straight from the database file. */
function storedSecrets(dir: string): Array<{ kid: string; private_jwk: string }> {
  const raw = new DatabaseSync(path.join(dir, 'lockstep.sqlite'));
  try {
    return raw.prepare('SELECT kid, private_jwk FROM signing_keys ORDER BY created_at').all() as Array<{
      kid: string;
      private_jwk: string;
    }>;
  } finally {
    raw.close();
  }
}

const invoiceBody = {
  amountMinor: 10_500,
  currency: 'JPY',
  orderReference: 'order-1',
  description: 'Uji green tea',
  payeeContact: 'shop@example.com',
};

describe('signing keys at rest', () => {
  it('are sealed with the key-encryption key; a restart with it keeps signing and verifying with the same key', async () => {
    const dir = dataDir();
    const kek = newKek();
    const first = await run(
      dir,
      kek,
      async (call) => ({
        jwks: (await call('GET', '/.well-known/jwks.json')).body,
        invoice: await call('POST', '/v1/invoices', invoiceBody, undefined),
      }),
      { seed: true },
    );
    // The seed's key is only known after start: issue the invoice in a second start.
    const secretKey = first.secretKey as string;
    const [stored] = storedSecrets(dir);
    expect(stored?.kid).toBe(first.value.jwks.keys[0].kid);
    const sealed = JSON.parse(stored?.private_jwk as string);
    expect(Object.keys(sealed)).toEqual(['sealed']);
    expect(stored?.private_jwk).not.toMatch(/"d"/);
    const second = await run(dir, kek, async (call) => {
      const invoice = await call('POST', '/v1/invoices', invoiceBody, secretKey);
      return {
        invoice,
        verified: await call('POST', '/v1/invoices/verify', { token: invoice.body.token }),
        jwks: (await call('GET', '/.well-known/jwks.json')).body,
      };
    });
    expect(second.value.invoice.status).toBe(201);
    expect(second.value.verified.status).toBe(200);
    expect(second.value.jwks).toEqual(first.value.jwks);
    // The seal is not rewritten on a restart.
    expect(storedSecrets(dir)[0]?.private_jwk).toBe(stored?.private_jwk);
    // And a third start verifies the invoice the second one signed.
    const third = await run(dir, kek, (call) =>
      call('POST', '/v1/invoices/verify', { token: second.value.invoice.body.token }),
    );
    expect(third.value.status).toBe(200);
  });

  it('stored in the clear by an earlier start are sealed once a key-encryption key is set, keeping their kid', async () => {
    const dir = dataDir();
    const before = await run(
      dir,
      undefined,
      async (call) => (await call('GET', '/.well-known/jwks.json')).body,
      { seed: true },
    );
    const secretKey = before.secretKey as string;
    expect(storedSecrets(dir)[0]?.private_jwk).toMatch(/"d":/);
    const token = (await run(dir, undefined, (call) => call('POST', '/v1/invoices', invoiceBody, secretKey)))
      .value.body.token as string;
    const kek = newKek();
    const after = await run(dir, kek, async (call) => ({
      jwks: (await call('GET', '/.well-known/jwks.json')).body,
      verified: await call('POST', '/v1/invoices/verify', { token }),
      signed: await call('POST', '/v1/invoices', invoiceBody, secretKey),
    }));
    expect(after.value.jwks).toEqual(before.value);
    expect(after.value.verified.status).toBe(200);
    expect(after.value.signed.status).toBe(201);
    const stored = storedSecrets(dir);
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored[0]?.private_jwk as string)).toEqual({ sealed: expect.any(String) });
  });

  it('that cannot be opened stop the start-up with a message naming the variable, and change nothing', async () => {
    const dir = dataDir();
    const kek = newKek();
    await run(dir, kek, async () => undefined, { seed: true });
    const sealedBefore = storedSecrets(dir);
    // No key-encryption key, or another one.
    await expect(run(dir, undefined, async () => undefined)).rejects.toThrow(KeySealingError);
    await expect(run(dir, undefined, async () => undefined)).rejects.toThrow(/LOCKSTEP_KEY_ENCRYPTION_KEY/);
    await expect(run(dir, newKek(), async () => undefined)).rejects.toThrow(
      /does not open with LOCKSTEP_KEY_ENCRYPTION_KEY/,
    );
    expect(storedSecrets(dir)).toEqual(sealedBefore);
    // The process exits 2 with that message (no stack trace).
    const node = [process.execPath, '--experimental-strip-types', '--experimental-sqlite'];
    let failure: { status?: number; stderr?: string } = {};
    try {
      execFileSync(
        node[0] as string,
        [...node.slice(1), '--disable-warning=ExperimentalWarning', 'packages/gateway/src/bin.ts'],
        {
          cwd: root,
          env: {
            ...process.env,
            PORT: '0',
            LOCKSTEP_DATA_DIR: dir,
            LOG_LEVEL: 'silent',
            LOCKSTEP_SEED_DEMO: '0',
          },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 30_000,
        },
      );
    } catch (error) {
      failure = error as { status?: number; stderr?: string };
    }
    expect(failure.status).toBe(2);
    expect(failure.stderr?.trim()).toBe(
      'The signing keys are sealed: set LOCKSTEP_KEY_ENCRYPTION_KEY to the key-encryption key they were sealed with.',
    );
    // So does the operator CLI; with the key it works.
    const cli = (env: Record<string, string>) =>
      execFileSync(
        node[0] as string,
        [
          ...node.slice(1),
          '--disable-warning=ExperimentalWarning',
          'packages/gateway/src/cli.ts',
          'reconcile',
        ],
        {
          cwd: root,
          env: { ...process.env, LOCKSTEP_DATA_DIR: dir, LOG_LEVEL: 'silent', ...env },
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 30_000,
        },
      );
    expect(() => cli({})).toThrow(/LOCKSTEP_KEY_ENCRYPTION_KEY/);
    expect(JSON.parse(cli({ LOCKSTEP_KEY_ENCRYPTION_KEY: kek })).balanced).toBe(true);
  });

  it("refuse a sealed key moved into another key's row", async () => {
    const dir = dataDir();
    const kek = newKek();
    await run(dir, kek, async () => undefined, { seed: true });
    // A second key (a rotation), then the two sealed secrets swapped in the database.
    const config = loadConfig({
      PORT: '0',
      LOG_LEVEL: 'silent',
      LOCKSTEP_DATA_DIR: dir,
      LOCKSTEP_KEY_ENCRYPTION_KEY: kek,
    });
    const { gateway, server } = await startGateway(config);
    await gateway.keys.rotate();
    await stopGateway(gateway, server, 1_000);
    const [older, newer] = storedSecrets(dir);
    const raw = new DatabaseSync(path.join(dir, 'lockstep.sqlite'));
    const update = raw.prepare('UPDATE signing_keys SET private_jwk = ? WHERE kid = ?');
    update.run(newer?.private_jwk as string, older?.kid as string);
    update.run(older?.private_jwk as string, newer?.kid as string);
    raw.close();
    await expect(run(dir, kek, async () => undefined)).rejects.toThrow(/holds another key's sealed secret/);
  });

  it('take a key-encryption key of exactly 32 bytes, base64url', () => {
    expect(() => loadConfig({ LOCKSTEP_KEY_ENCRYPTION_KEY: 'too-short' })).toThrow(
      /LOCKSTEP_KEY_ENCRYPTION_KEY: must be 32 random bytes/,
    );
    expect(() => loadConfig({ LOCKSTEP_KEY_ENCRYPTION_KEY: `${newKek()}=` })).toThrow(
      /LOCKSTEP_KEY_ENCRYPTION_KEY/,
    );
    expect(loadConfig({ LOCKSTEP_KEY_ENCRYPTION_KEY: newKek() }).keyEncryptionKey?.byteLength).toBe(32);
    expect(loadConfig({}).keyEncryptionKey).toBeUndefined();
  });
});
