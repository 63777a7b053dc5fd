import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noCommission } from '@lockstep/core';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../packages/gateway/src/gateway.ts';
import { KeyRing } from '../../packages/gateway/src/service/keys.ts';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import { startTestGateway } from '../support/gateway.ts';

const day = 24 * 60 * 60 * 1000;

/**
 * README (Storage): with LOCKSTEP_KEY_ENCRYPTION_KEY set, "a copy of the database cannot sign and
 * a key row written by someone without that key is neither published nor signed with".
 * key-sealing.test.ts proves it while the gateway runs. Here: a planted row newer than the
 * bank's, then the gateway is restarted (a deploy, a crash) with the same key-encryption key.
 * It was sealed and adopted at that start, and signed with (helper-43's review).
 */
describe('a signing key row planted in the clear by someone without the key-encryption key', () => {
  it('is still neither published nor signed with after the gateway restarts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-planted-'));
    const file = path.join(dir, 'lockstep.sqlite');
    const kek = new Uint8Array(randomBytes(32));
    const start = async () =>
      createGateway({
        store: await openSqliteStore({ path: file }),
        publicUrl: 'http://localhost:4000',
        commission: noCommission,
        keyEncryptionKey: kek,
        webhooks: false,
        housekeeping: false,
        deadlines: false,
        log: pino({ level: 'silent' }),
      });

    const first = await start();
    const genuineKid = first.keys.activeKid;
    // Someone with write access to the database (not to the key-encryption key) adds a key pair
    // of their own, in the clear, newer than the bank's.
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = { ...(await exportJWK(privateKey)), kid };
    await first.store.transaction((tx) =>
      tx.upsertSigningKey({
        kid,
        alg: 'EdDSA',
        publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' },
        privateJwk,
        createdAt: '2099-01-01T00:00:00.000Z',
        retiresAt: '2099-02-01T00:00:00.000Z',
        expiresAt: '2099-03-01T00:00:00.000Z',
      }),
    );
    await first.close();

    // The next start, same key-encryption key.
    const second = await start();
    try {
      const jwks = (await (await second.app.request('/.well-known/jwks.json')).json()) as {
        keys: Array<{ kid: string }>;
      };
      const signature = await second.keys.signWebhook('{"id":"evt_x"}');
      const signedWith = decodeProtectedHeader(`${signature.split('..')[0]}..`).kid;
      expect({
        published: jwks.keys.map((key) => key.kid).includes(kid),
        activeKid: second.keys.activeKid === kid ? 'attacker key' : 'bank key',
        webhookSignedWith: signedWith === kid ? 'attacker key' : 'bank key',
      }).toEqual({ published: false, activeKid: 'bank key', webhookSignedWith: 'bank key' });
      expect(second.keys.activeKid).toBe(genuineKid);
    } finally {
      await second.close();
    }
  });
});

/**
 * A signing key signs for 90 days (`retiresAt`), then only verifies for 31 more (`expiresAt`); a
 * gateway runs for longer than that.
 */
describe('signing key lifetime in a running gateway', () => {
  it('stops signing with a key once it has retired, and never signs with an expired one', async () => {
    let clock = new Date('2026-01-01T00:00:00.000Z');
    const gateway = await startTestGateway({ now: () => clock });
    try {
      const invoice = async () => {
        const response = await gateway.request('POST', '/v1/invoices', {
          token: gateway.seed.secretKey,
          body: {
            amountMinor: 1000,
            currency: 'JPY',
            orderReference: `order-${clock.getTime()}`,
            description: 'tea',
            payeeContact: 'shop@example.com',
          },
        });
        expect(response.status).toBe(201);
        return response.body.token as string;
      };
      const firstKid = decodeProtectedHeader(await invoice()).kid as string;
      const keys = async () => gateway.gateway.store.read((reader) => reader.listSigningKeys());
      const first = (await keys()).find((key) => key.kid === firstKid);
      expect(first).toBeDefined();

      // 91 days later, the process still running: the first key retired a day ago.
      clock = new Date(clock.getTime() + 91 * day);
      const laterKid = decodeProtectedHeader(await invoice()).kid as string;
      const retiredAt = Date.parse(first?.retiresAt as string);
      expect(retiredAt).toBeLessThan(clock.getTime());
      // A key past its retirement no longer signs new invoices (it did, and at day 122 too).
      expect(laterKid).not.toBe(firstKid);

      // 122 days: the first key's verification grace is over too (expiresAt passed).
      clock = new Date(clock.getTime() + 31 * day);
      const token = await invoice();
      const kid = decodeProtectedHeader(token).kid as string;
      const row = (await keys()).find((key) => key.kid === kid);
      expect(Date.parse(row?.retiresAt as string)).toBeGreaterThan(clock.getTime());

      // A second gateway process on the same store (load balancer, restart of a sibling) refuses
      // the invoice this process just signed: the key is expired, so it does not publish it.
      const other = await createGateway({
        store: gateway.gateway.store,
        publicUrl: gateway.url,
        commission: noCommission,
        now: () => clock,
        log: pino({ level: 'silent' }),
        webhooks: false,
        housekeeping: false,
        deadlines: false,
      });
      const verify = await other.app.request('/v1/invoices/verify', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      const jwks = (await (await other.app.request('/.well-known/jwks.json')).json()) as {
        keys: Array<{ kid: string }>;
      };
      // Signed a moment ago by one process, verified by its sibling.
      expect({ status: verify.status, published: jwks.keys.some((key) => key.kid === kid) }).toEqual({
        status: 200,
        published: true,
      });
      await other.close();
    } finally {
      await gateway.close();
    }
  });

  it('publishes the next key from the start, so a verifier that fetched the key set before a rotation knows the new key (helper-104)', async () => {
    let clock = new Date('2026-01-01T00:00:00.000Z');
    const gateway = await startTestGateway({ now: () => clock });
    try {
      const jwks = async () =>
        ((await gateway.request('GET', '/.well-known/jwks.json')).body.keys as Array<{ kid: string }>)
          .map((key) => key.kid)
          .sort();
      const signedWith = async () => {
        const signature = await gateway.gateway.keys.signWebhook('{}');
        return decodeProtectedHeader(`${signature.split('..')[0]}..`).kid as string;
      };
      const fetchedAtStart = await jwks();
      const first = await signedWith();
      expect(fetchedAtStart).toHaveLength(2);
      expect(fetchedAtStart).toContain(first);

      // Day 91: the first key retired; what signs now was published on day 0, and its own
      // successor is published from now on.
      clock = new Date(clock.getTime() + 91 * day);
      const second = await signedWith();
      expect(second).not.toBe(first);
      expect(fetchedAtStart).toContain(second);
      const fetchedAtDay91 = await jwks();
      expect(fetchedAtDay91).toHaveLength(3); // the first still verifies, 31 days
      const third = fetchedAtDay91.find((kid) => kid !== first && kid !== second) as string;
      clock = new Date(clock.getTime() + 90 * day);
      expect(await signedWith()).toBe(third);

      // The operator's rotation makes two fresh keys; the successor it replaces, which signed
      // nothing, is withdrawn at once.
      const beforeRotation = await jwks();
      const unused = beforeRotation.find((kid) => ![first, second, third].includes(kid)) as string;
      expect(unused).toBeDefined();
      const rotated = (await gateway.gateway.keys.rotate()).kid;
      const afterRotation = await jwks();
      expect(await signedWith()).toBe(rotated);
      expect(afterRotation).not.toContain(unused);
      expect(afterRotation).toContain(third); // it signed: it verifies for 31 days more
      expect(afterRotation).toHaveLength(4); // second (grace), third (grace), rotated, its successor
    } finally {
      await gateway.close();
    }
  });

  it("a quiet gateway still publishes the next key ahead, and an operator's rotation never withdraws a key another process may sign with (helper-106)", async () => {
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    let clockA = new Date(t0);
    let clockB = new Date(t0);
    const store = await openSqliteStore({ path: ':memory:' });
    const a = new KeyRing(store, { issuer: 'http://x', now: () => clockA, refreshMs: 0 });
    const b = new KeyRing(store, { issuer: 'http://x', now: () => clockB, refreshMs: 0 });
    await a.load();
    await b.load();
    const kidOf = (signature: string) => decodeProtectedHeader(`${signature.split('..')[0]}..`).kid as string;
    // Day 91: nothing signed since day 0; a shop fetches the key set (which reloads the ring).
    clockA = new Date(t0 + 91 * day);
    await a.refreshIfStale();
    const fetchedAtDay91 = a.publicJwks().keys.map((key) => key.kid);
    clockA = new Date(t0 + 181 * day);
    expect(fetchedAtDay91).toContain(kidOf(await a.signWebhook('{}')));

    // The operator rotates on a process whose clock is 2 s behind, just as the next key starts
    // signing by the other's: what that key signed keeps verifying.
    const switchMs = Date.parse(
      (await store.read((reader) => reader.listSigningKeys()))
        .map((key) => key.retiresAt)
        .sort()
        .at(-2) as string,
    );
    clockA = new Date(switchMs + 1_000);
    clockB = new Date(switchMs - 1_000);
    const token = await a.signInvoice({ amountMinor: 1 }, 'inv_1', new Date(switchMs + 10 * day));
    await b.rotate();
    await a.refreshIfStale();
    await expect(a.verifyInvoice(token)).resolves.toMatchObject({ sub: 'inv_1' });
  });
});
