import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { noCommission } from '@lockstep/core';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/gateway/src/config.ts';
import { createGateway } from '../../packages/gateway/src/gateway.ts';
import { startGateway, stopGateway } from '../../packages/gateway/src/main.ts';
import { KeySealingError } from '../../packages/gateway/src/service/keys.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';

/**
 * The private signing keys at rest: with LOCKSTEP_KEY_ENCRYPTION_KEY they are stored sealed, so
 * a copy of the database cannot sign and a row written without that key is not used; the
 * gateway refuses to start on keys it cannot use, changing nothing.
 */
const root = path.resolve(import.meta.dirname, '../..');
const node = [process.execPath, '--experimental-strip-types', '--experimental-sqlite'];
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
type Call = (method: string, pathname: string, body?: unknown, token?: string) => Promise<any>;

/** The real start-up path (`pnpm gateway`) in this process, on the embedded store in `dir`. */
async function run<T>(
  dir: string,
  kek: string | undefined,
  work: (call: Call) => Promise<T>,
  options: { seed?: boolean; env?: Record<string, string> } = {},
): Promise<{ value: T; secretKey: string | undefined }> {
  const config = loadConfig({
    PORT: '0',
    LOG_LEVEL: 'silent',
    LOCKSTEP_DATA_DIR: dir,
    LOCKSTEP_PUBLIC_URL: 'http://localhost:4000',
    ...(options.seed ? { LOCKSTEP_SEED_DEMO: '1' } : {}),
    ...(kek ? { LOCKSTEP_KEY_ENCRYPTION_KEY: kek } : {}),
    ...options.env,
  });
  const { gateway, server, seed } = await startGateway(config);
  const address = server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  try {
    const call: Call = async (method, pathname, body, token) => {
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

/** The stored keys, straight from the database file. */
function stored(dir: string): Array<{ kid: string; private_jwk: string; created_at: string }> {
  const raw = new DatabaseSync(path.join(dir, 'lockstep.sqlite'));
  try {
    return raw
      .prepare('SELECT kid, private_jwk, created_at FROM signing_keys ORDER BY created_at')
      .all() as Array<{ kid: string; private_jwk: string; created_at: string }>;
  } finally {
    raw.close();
  }
}

function sql(dir: string, text: string, ...values: string[]): void {
  const raw = new DatabaseSync(path.join(dir, 'lockstep.sqlite'));
  raw.prepare(text).run(...values);
  raw.close();
}

/** A process (or the admin CLI) started on `dir`: its exit code and what it wrote to stderr. */
function exitOf(script: string, dir: string, env: Record<string, string>, args: string[] = []) {
  try {
    const stdout = execFileSync(
      node[0] as string,
      [...node.slice(1), '--disable-warning=ExperimentalWarning', script, ...args],
      {
        cwd: root,
        env: { ...process.env, PORT: '0', LOCKSTEP_DATA_DIR: dir, LOG_LEVEL: 'silent', ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
      },
    );
    return { status: 0, stderr: '', stdout };
  } catch (error) {
    const failure = error as { status?: number; stderr?: string };
    return { status: failure.status, stderr: failure.stderr?.trim() ?? '', stdout: '' };
  }
}

const invoiceBody = {
  amountMinor: 10_500,
  currency: 'JPY',
  orderReference: 'order-1',
  description: 'Uji green tea',
  payeeContact: 'shop@example.com',
};
const sealedMessage =
  'The signing keys are sealed: set LOCKSTEP_KEY_ENCRYPTION_KEY to the key-encryption key they were sealed with.';

/** A self-consistent key row, as someone with write access to the database could add one. */
async function plantedRow(createdAt: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    publicJwk: JSON.stringify({ ...publicJwk, kid, alg: 'EdDSA', use: 'sig' }),
    privateJwk: JSON.stringify({ ...(await exportJWK(privateKey)), kid }),
    createdAt,
  };
}

describe('signing keys at rest', () => {
  it('are sealed with the key-encryption key; a restart with it keeps signing and verifying with the same key', async () => {
    const dir = dataDir();
    const kek = newKek();
    const first = await run(dir, kek, async (call) => (await call('GET', '/.well-known/jwks.json')).body, {
      seed: true,
    });
    // The seed's API key is only known once it ran: invoices are issued from the second start.
    const secretKey = first.secretKey as string;
    const [row] = stored(dir);
    expect(row?.kid).toBe(first.value.keys[0].kid);
    expect(Object.keys(JSON.parse(row?.private_jwk as string))).toEqual(['sealed']);
    expect(row?.private_jwk).not.toMatch(/"d"/);
    const second = await run(dir, kek, async (call) => {
      const invoice = await call('POST', '/v1/invoices', invoiceBody, secretKey);
      return {
        invoice,
        verified: await call('POST', '/v1/invoices/verify', { token: invoice.body.token }),
        jwks: (await call('GET', '/.well-known/jwks.json')).body,
      };
    });
    expect(second.value.invoice.status).toBe(201);
    expect(decodeProtectedHeader(second.value.invoice.body.token).kid).toBe(row?.kid);
    expect(second.value.verified.status).toBe(200);
    expect(second.value.jwks).toEqual(first.value);
    // The seal is not rewritten on a restart, and a third start verifies the second's invoice.
    expect(stored(dir)[0]?.private_jwk).toBe(row?.private_jwk);
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
      {
        seed: true,
      },
    );
    const secretKey = before.secretKey as string;
    expect(stored(dir)[0]?.private_jwk).toMatch(/"d":/);
    const token = (await run(dir, undefined, (call) => call('POST', '/v1/invoices', invoiceBody, secretKey)))
      .value.body.token as string;
    const after = await run(dir, newKek(), async (call) => ({
      jwks: (await call('GET', '/.well-known/jwks.json')).body,
      verified: await call('POST', '/v1/invoices/verify', { token }),
      signed: await call('POST', '/v1/invoices', invoiceBody, secretKey),
    }));
    expect(after.value.jwks).toEqual(before.value);
    expect(after.value.verified.status).toBe(200);
    expect(after.value.signed.status).toBe(201);
    // The signing key and its successor, published ahead (keys.ts), both sealed.
    const rows = stored(dir);
    expect(rows).toHaveLength(2);
    for (const row of rows)
      expect(JSON.parse(row.private_jwk as string)).toEqual({ sealed: expect.any(String) });
  });

  it('that cannot be opened stop the gateway and the CLI with one line naming the variable (exit 2), changing nothing', async () => {
    const dir = dataDir();
    const kek = newKek();
    await run(dir, kek, async () => undefined, { seed: true });
    const before = stored(dir);
    await expect(run(dir, undefined, async () => undefined)).rejects.toThrow(KeySealingError);
    await expect(run(dir, undefined, async () => undefined)).rejects.toThrow(sealedMessage);
    await expect(run(dir, newKek(), async () => undefined)).rejects.toThrow(
      /does not open with LOCKSTEP_KEY_ENCRYPTION_KEY/,
    );
    expect(stored(dir)).toEqual(before);
    expect(exitOf('packages/gateway/src/bin.ts', dir, {})).toMatchObject({
      status: 2,
      stderr: sealedMessage,
    });
    expect(exitOf('packages/gateway/src/cli.ts', dir, {}, ['reconcile'])).toMatchObject({
      status: 2,
      stderr: sealedMessage,
    });
    const ok = exitOf('packages/gateway/src/cli.ts', dir, { LOCKSTEP_KEY_ENCRYPTION_KEY: kek }, [
      'reconcile',
    ]);
    expect(JSON.parse(ok.stdout).balanced).toBe(true);
    // A bad value is a configuration error, reported the same way.
    expect(
      exitOf('packages/gateway/src/cli.ts', dir, { LOCKSTEP_KEY_ENCRYPTION_KEY: 'short' }, ['reconcile']),
    ).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/^Invalid configuration:\n {2}LOCKSTEP_KEY_ENCRYPTION_KEY/),
    });
  });

  it('a wrong key-encryption key leaves sealed and clear rows as they were; the right one opens the sealed and never adopts the clear', async () => {
    const dir = dataDir();
    const kek = newKek();
    await run(dir, kek, async () => undefined, { seed: true });
    // A row in the clear beside the sealed one (an older key, retired, still verifying).
    const older = await plantedRow('2026-01-01T00:00:00.000Z');
    sql(
      dir,
      `INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, created_at, retires_at, expires_at)
       VALUES (?, 'EdDSA', ?, ?, ?, '2026-02-01T00:00:00.000Z', '2099-01-01T00:00:00.000Z')`,
      older.kid,
      older.publicJwk,
      older.privateJwk,
      older.createdAt,
    );
    const before = stored(dir);
    await expect(run(dir, newKek(), async () => undefined)).rejects.toThrow(/does not open/);
    expect(stored(dir)).toEqual(before);
    // The right key opens the sealed one. The row in the clear beside it was written by someone
    // without the key-encryption key: it is not sealed, published or signed with, even after a
    // restart (it was sealed and adopted: helper-43's review).
    for (let start = 0; start < 2; start++) {
      const jwks = (await run(dir, kek, async (call) => (await call('GET', '/.well-known/jwks.json')).body))
        .value;
      expect(jwks.keys.map((key: { kid: string }) => key.kid)).toEqual(
        before.filter((row) => row.kid !== older.kid).map((row) => row.kid),
      );
    }
    expect(stored(dir)).toEqual(before);
  });

  it("refuse a tampered seal, and a sealed key moved into another key's row", async () => {
    const dir = dataDir();
    const kek = newKek();
    await run(dir, kek, async () => undefined, { seed: true });
    const config = loadConfig({
      PORT: '0',
      LOG_LEVEL: 'silent',
      LOCKSTEP_DATA_DIR: dir,
      LOCKSTEP_KEY_ENCRYPTION_KEY: kek,
    });
    const { gateway, server } = await startGateway(config);
    await gateway.keys.rotate();
    await stopGateway(gateway, server, 1_000);
    const [older, newer] = stored(dir);
    const setSecret = (kid: string, secret: string) =>
      sql(dir, 'UPDATE signing_keys SET private_jwk = ? WHERE kid = ?', secret, kid);
    setSecret(older?.kid as string, newer?.private_jwk as string);
    setSecret(newer?.kid as string, older?.private_jwk as string);
    await expect(run(dir, kek, async () => undefined)).rejects.toThrow(/holds another key's sealed secret/);
    setSecret(older?.kid as string, older?.private_jwk as string);
    // One character of the ciphertext changed.
    const jwe = JSON.parse(newer?.private_jwk as string).sealed as string;
    const parts = jwe.split('.');
    const cipher = parts[3] as string;
    parts[3] = (cipher[0] === 'A' ? 'B' : 'A') + cipher.slice(1);
    setSecret(newer?.kid as string, JSON.stringify({ sealed: parts.join('.') }));
    await expect(run(dir, kek, async () => undefined)).rejects.toThrow(/does not open/);
    setSecret(newer?.kid as string, newer?.private_jwk as string);
    expect((await run(dir, kek, async () => 'started')).value).toBe('started');
  });

  it('in the clear, added to the store while the gateway runs with a key-encryption key, are neither published nor signed with', async () => {
    const dir = dataDir();
    const kek = new Uint8Array(randomBytes(32));
    const reported: string[] = [];
    const log = pino({ level: 'silent' });
    const store = await openSqliteStore({ path: path.join(dir, 'lockstep.sqlite') });
    const gateway = await createGateway({
      store,
      publicUrl: 'http://localhost:4000',
      commission: noCommission,
      keyEncryptionKey: kek,
      keyRefreshMs: 0,
      webhooks: false,
      log: Object.assign(Object.create(log), {
        error: (fields: { kid?: string }) => {
          if (fields.kid) reported.push(fields.kid);
        },
      }),
    });
    try {
      const sealedKid = gateway.keys.activeKid;
      const ownKids = (await store.read((reader) => reader.listSigningKeys())).map((key) => key.kid).sort();
      expect(ownKids).toHaveLength(2); // the signing key and its successor
      const planted = await plantedRow('2099-01-01T00:00:00.000Z');
      await store.transaction((tx) =>
        tx.upsertSigningKey({
          kid: planted.kid,
          alg: 'EdDSA',
          publicJwk: JSON.parse(planted.publicJwk),
          privateJwk: JSON.parse(planted.privateJwk),
          createdAt: planted.createdAt,
          retiresAt: '2099-02-01T00:00:00.000Z',
          expiresAt: '2099-03-01T00:00:00.000Z',
        }),
      );
      const jwks = await (await gateway.app.request('/.well-known/jwks.json')).json();
      expect(jwks.keys.map((key: { kid: string }) => key.kid).sort()).toEqual(ownKids);
      expect(gateway.keys.activeKid).toBe(sealedKid);
      const signature = await gateway.keys.signWebhook('{}');
      expect(decodeProtectedHeader(`${signature.split('..')[0]}..`).kid).toBe(sealedKid);
      expect(reported).toEqual([planted.kid]);
      // The signing key's own row given another public key (its sealed secret kept): not
      // published either, though that secret was opened and checked before.
      (store as unknown as { writer: DatabaseSync }).writer
        .prepare('UPDATE signing_keys SET public_jwk = ? WHERE kid = ?')
        .run(planted.publicJwk, sealedKid);
      const swapped = await (await gateway.app.request('/.well-known/jwks.json')).json();
      expect(swapped.keys.map((key: { x: string }) => key.x)).not.toContain(JSON.parse(planted.publicJwk).x);
      expect(reported).toEqual([planted.kid, sealedKid]);
    } finally {
      await gateway.close();
    }
  });

  it('move to a new key-encryption key: the previous one opens what it sealed, which is sealed again', async () => {
    const dir = dataDir();
    const [oldKek, newKeyEncryptionKey] = [newKek(), newKek()];
    const first = await run(dir, oldKek, async (call) => (await call('GET', '/.well-known/jwks.json')).body, {
      seed: true,
    });
    const sealedBefore = stored(dir)[0]?.private_jwk;
    const moved = await run(
      dir,
      newKeyEncryptionKey,
      async (call) => (await call('GET', '/.well-known/jwks.json')).body,
      { env: { LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY: oldKek } },
    );
    expect(moved.value).toEqual(first.value);
    expect(stored(dir)[0]?.private_jwk).not.toBe(sealedBefore);
    expect((await run(dir, newKeyEncryptionKey, async () => 'started')).value).toBe('started');
    await expect(run(dir, oldKek, async () => undefined)).rejects.toThrow(/does not open/);
    expect(() => loadConfig({ LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY: oldKek })).toThrow(
      /LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY: needs LOCKSTEP_KEY_ENCRYPTION_KEY/,
    );
  });

  it.runIf(pgAvailable())('are sealed the same way on PostgreSQL', async () => {
    const database = await createTestDatabase();
    try {
      const kek = newKek();
      const env = { DATABASE_URL: database.url };
      const first = await run(
        dataDir(),
        kek,
        async (call) => (await call('GET', '/.well-known/jwks.json')).body,
        {
          env,
        },
      );
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const { rows } = await client.query('SELECT kid, private_jwk FROM signing_keys');
      await client.end();
      expect(rows).toHaveLength(2); // the signing key and its successor
      for (const row of rows) expect(Object.keys(JSON.parse(row.private_jwk))).toEqual(['sealed']);
      const again = await run(
        dataDir(),
        kek,
        async (call) => (await call('GET', '/.well-known/jwks.json')).body,
        {
          env,
        },
      );
      expect(again.value).toEqual(first.value);
      await expect(run(dataDir(), undefined, async () => undefined, { env })).rejects.toThrow(sealedMessage);
      await expect(run(dataDir(), newKek(), async () => undefined, { env })).rejects.toThrow(/does not open/);
    } finally {
      await database.drop();
    }
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
