import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { noCommission } from '@lockstep/core';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../packages/gateway/src/gateway.ts';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';
import { adminUrl, createTestDatabase, pgAvailable } from '../support/postgres.ts';

/** A TCP proxy to PostgreSQL; `cut(chunk)` true: forward the chunk, then reset both sides. */
async function proxyTo(cut: (chunk: Buffer) => boolean) {
  const target = new URL(adminUrl);
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.push(client, upstream);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (cut(chunk)) {
        upstream.end();
        client.resetAndDestroy();
      }
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length)
    await cleanups
      .pop()?.()
      .catch(() => {});
});

async function gatewayOn(url: string): Promise<TestGateway> {
  const gw = await startTestGateway({
    store: await openPostgresStore({ connectionString: url }),
    webhooks: false,
  });
  cleanups.push(() => gw.close());
  return gw;
}

async function freshDb() {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  return db;
}

async function createDeal(gw: TestGateway) {
  const buyer = await gw.buyerToken();
  const created = await gw.request('POST', '/v1/temporary-accounts', {
    token: buyer,
    body: { payeeUserId: 'ibm-shop', amountMinor: 700, currency: 'JPY' },
  });
  expect(created.status).toBe(201);
  return { buyer, code: created.body.code as string };
}

/**
 * Opens the account's live stream after its first three events and reads it in the
 * background; `stop` says whether lock.changed came, or the stream ended (so the client
 * resumes), by then.
 */
async function watchStream(gw: TestGateway, code: string, buyer: string) {
  const stream = await gw.gateway.app.request(`/v1/temporary-accounts/${code}/stream`, {
    headers: { authorization: `Bearer ${buyer}`, 'last-event-id': '3' },
  });
  expect(stream.status).toBe(200);
  const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  let ended = false;
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      text += new TextDecoder().decode(value);
    }
  })();
  return {
    async stop() {
      const seen = { sawIt: text.includes('lock.changed'), ended };
      await reader.cancel().catch(() => {});
      await pump.catch(() => {});
      return seen;
    },
  };
}

function lockDeal(gw: TestGateway, code: string, key: string) {
  return gw.request('POST', `/v1/temporary-accounts/${code}/lock`, {
    token: gw.seed.secretKey,
    body: {},
    headers: { 'idempotency-key': key },
  });
}

async function admin(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanups.push(() => client.end());
  return client;
}

async function waitForBlocked(c: pg.Client, dbName: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await c.query(
      `SELECT pid, query FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      [dbName],
    );
    if (rows.length > 0) return rows[0].pid;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('nothing blocked');
}

/**
 * PostgreSQL failures around a command (helper-47's review): a commit whose answer is lost, an
 * event of another process that cannot be read, a cancelled statement, a killed backend, a
 * deadlock. The first three were: a live stream that never got the event (nor was closed), and a
 * 500 for a cancelled statement that wrote nothing.
 */
describe.runIf(pgAvailable())('PostgreSQL faults around a command', () => {
  it('a command whose COMMIT answer is lost (but committed) still reaches a live stream of this process, or closes it', async () => {
    const db = await freshDb();
    const key = `lost-commit-${Date.now()}`;
    let armed = false;
    const proxy = await proxyTo((chunk) => {
      if (armed && chunk.includes('COMMIT\0') && chunk.includes(key)) {
        armed = false;
        return true;
      }
      return false;
    });
    cleanups.push(() => proxy.close());
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const gw = await gatewayOn(url.toString());
    const { buyer, code } = await createDeal(gw);
    const stream = await watchStream(gw, code, buyer);
    await new Promise((r) => setTimeout(r, 200));
    armed = true;
    const first = await lockDeal(gw, code, key);
    expect(first.status).toBe(503);
    expect(first.body.error?.message ?? JSON.stringify(first.body)).toMatch(/outcome is unknown/);
    const again = await lockDeal(gw, code, key);
    expect(again.status).toBe(200);
    // It committed (the replay proves it): the stream must show lock.changed, or end so the client resumes.
    await new Promise((r) => setTimeout(r, 1500));
    const seen = await stream.stop();
    const inDb = await gw.gateway.store.read((r) => r.listEvents(code, 0, 100));
    expect(inDb.map((e) => e.type)).toContain('lock.changed');
    expect(seen).not.toEqual({ sawIt: false, ended: false });
  }, 30_000);

  /**
   * A lock command held behind a LOCK TABLE, its backend then cancelled or killed: the first
   * answer, the lock.changed events right after it, and after a retry with the same key.
   */
  async function interrupted(how: 'pg_cancel_backend' | 'pg_terminate_backend') {
    const db = await freshDb();
    const gw = await gatewayOn(db.url);
    const { code } = await createDeal(gw);
    const blocker = await admin(db.url);
    const killer = await admin(adminUrl);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE account_events IN EXCLUSIVE MODE');
    const key = `${how}-${Date.now()}`;
    const pending = lockDeal(gw, code, key);
    const pid = await waitForBlocked(killer, new URL(db.url).pathname.slice(1));
    await killer.query(`SELECT ${how}($1)`, [pid]);
    const first = await pending;
    await blocker.query('ROLLBACK');
    const locks = async () =>
      (
        await blocker.query(
          "SELECT count(*)::int AS n FROM account_events WHERE code = $1 AND type = 'lock.changed'",
          [code],
        )
      ).rows[0].n as number;
    const locksAfterFirst = await locks();
    const again = await lockDeal(gw, code, key);
    return { first, locksAfterFirst, again, locksAfterRetry: await locks() };
  }

  it('a statement cancelled (statement_timeout / pg_cancel_backend) while a command commits: stable code, nothing written, retry applies once', async () => {
    const { first, locksAfterFirst, again, locksAfterRetry } = await interrupted('pg_cancel_backend');
    expect(first.status).not.toBe(500);
    expect(first.body.error?.code).toBe('service_unavailable');
    expect(locksAfterFirst).toBe(0);
    expect(again.status).toBe(200);
    expect(locksAfterRetry).toBe(1);
  }, 30_000);

  it('a backend killed while its COMMIT batch waits on a lock: it surely did not commit, retry applies once', async () => {
    const { locksAfterFirst, again, locksAfterRetry } = await interrupted('pg_terminate_backend');
    expect(locksAfterFirst).toBe(0);
    expect(again.status).toBe(200);
    expect(locksAfterRetry).toBe(1);
  }, 30_000);

  it('a deadlock reported on the first attempt is retried and applies once', async () => {
    const db = await freshDb();
    const gw = await gatewayOn(db.url);
    const { code } = await createDeal(gw);
    const c = await admin(db.url);
    await c.query(`CREATE SEQUENCE inject_seq;
      CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('inject_seq') = 1 THEN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER inject BEFORE INSERT ON account_events FOR EACH ROW EXECUTE FUNCTION inject();`);
    const key = `deadlock-${Date.now()}`;
    const first = await lockDeal(gw, code, key);
    expect(first.status).toBe(200);
    const after = await c.query(
      "SELECT count(*)::int AS n FROM account_events WHERE code = $1 AND type = 'lock.changed'",
      [code],
    );
    expect(after.rows[0].n).toBe(1);
  }, 30_000);

  it("an event another process committed while this one's pool was busy still reaches (or ends) this process's live stream", async () => {
    const db = await freshDb();
    const gw = await startTestGateway({
      // Its one connection is held past the pool's 10 s wait below: not cut as unanswered.
      store: await openPostgresStore({ connectionString: db.url, poolSize: 1, answerTimeoutMs: 60_000 }),
      webhooks: false,
    });
    cleanups.push(() => gw.close());
    const other = await createGateway({
      store: await openPostgresStore({ connectionString: db.url }),
      publicUrl: gw.url,
      commission: noCommission,
      log: pino({ level: 'silent' }),
      webhooks: false,
      allowPrivateWebhookUrls: true,
    });
    cleanups.push(() => other.close());
    const { buyer, code } = await createDeal(gw);
    const stream = await watchStream(gw, code, buyer);
    await new Promise((r) => setTimeout(r, 200));
    // This process's only connection is busy for 11 s (a slow request, say).
    let _release = () => {};
    const held = gw.gateway.store.transaction(async (tx) => {
      await tx.getCustomer('cus_nobody');
      await new Promise<void>((r) => {
        _release = r;
        setTimeout(r, 11_000);
      });
    });
    const locked = await other.app.request(`/v1/temporary-accounts/${code}/lock`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gw.seed.secretKey}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(locked.status).toBe(200);
    await held;
    await new Promise((r) => setTimeout(r, 1500));
    expect(await stream.stop()).not.toEqual({ sawIt: false, ended: false });
  }, 40_000);
});
