import { createConnection, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openPostgresStore,
  type PostgresStore,
  UnsettledCommits,
} from '../../packages/gateway/src/storage/postgres.ts';
import { adminUrl, createTestDatabase, pgAvailable } from '../support/postgres.ts';

/**
 * Network faults between a gateway and PostgreSQL, through a TCP proxy the test can cut with
 * a reset (as a failover, a load balancer or a firewall would): a connection lost while a
 * client is checked out must fail only that attempt, which is retried; never the process.
 */
describe.runIf(pgAvailable())('PostgreSQL store under connection resets', () => {
  let proxy: Server;
  let sockets: Socket[] = [];
  /** Set by a test: pass the next COMMIT on to the server, then cut before its answer. */
  let cutAfterCommit = false;
  /** Set by a test: the network stalls (nothing passes, every socket stays open). */
  let frozen = false;
  let proxyUrl: string;
  let store: PostgresStore;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const target = new URL(adminUrl);
    proxy = createServer((client) => {
      const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
      sockets.push(client, upstream);
      client.on('data', (chunk: Buffer) => {
        if (frozen) return;
        upstream.write(chunk);
        if (cutAfterCommit && chunk.includes('COMMIT\0')) {
          cutAfterCommit = false;
          // The server gets the COMMIT (and commits); the client never hears the answer.
          upstream.end();
          client.resetAndDestroy();
        }
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!frozen) client.write(chunk);
      });
      upstream.on('end', () => client.end());
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const database = await createTestDatabase();
    drop = database.drop;
    const viaProxy = new URL(database.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String((proxy.address() as { port: number }).port);
    proxyUrl = viaProxy.toString();
    store = await openPostgresStore({ connectionString: proxyUrl });
  });

  afterAll(async () => {
    await store?.close();
    await new Promise((resolve) => proxy?.close(resolve));
    await drop?.();
  });

  function cutEverything(): void {
    for (const socket of sockets) socket.resetAndDestroy();
    sockets = [];
  }

  it('retries a transaction whose connection is reset mid-way, and the process lives on', async () => {
    let attempts = 0;
    const crashed: unknown[] = [];
    const onUncaught = (error: unknown) => crashed.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const result = await store.transaction(async (tx) => {
        attempts++;
        await tx.getCustomer('cus_nobody');
        if (attempts === 1) {
          cutEverything();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await tx.insertCustomer({
          id: `cus_fault_${attempts}`,
          userId: 'fault-user',
          displayName: 'Fault',
          passwordHash: 'scrypt$x',
          failedLoginCount: 0,
          loginLockedUntil: null,
          createdAt: new Date().toISOString(),
        });
        return attempts;
      });
      expect(result).toBeGreaterThanOrEqual(2);
      expect(crashed).toEqual([]);
      // Exactly one attempt landed.
      const landed = await store.read((reader) => reader.getCustomerByUserId('fault-user'));
      expect(landed?.id).toBe(`cus_fault_${result}`);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('a database that stops answering ends the unit in 503 at the answer timeout; health says so', async () => {
    // A stalled network or a proxy that stopped forwarding kept the request, and its pooled
    // connection, waiting for minutes (helper-49's review); /healthz said ok meanwhile.
    const quick = await openPostgresStore({
      connectionString: proxyUrl,
      answerTimeoutMs: 500,
      listen: false,
    });
    const hung = (ms: number) => new Promise((resolve) => setTimeout(() => resolve('still waiting'), ms));
    try {
      expect(await quick.health()).toEqual({ ok: true });
      await quick.read((reader) => reader.getCustomer('cus_nobody')); // a pooled connection
      frozen = true;
      const unit = quick.transaction(async (tx) => {
        await tx.getCustomer('cus_nobody');
      });
      const outcome = await Promise.race([
        unit.then(
          () => 'answered',
          (error: unknown) => error,
        ),
        hung(8_000),
      ]);
      expect(outcome).toMatchObject({ code: 'service_unavailable' });
      // New connections get nowhere either: refused in time, not after the pool's 10 s.
      const read = quick.read((reader) => reader.getCustomer('cus_nobody'));
      expect(
        await Promise.race([
          read.then(
            () => 'answered',
            (error: unknown) => error,
          ),
          hung(8_000),
        ]),
      ).toMatchObject({ code: 'service_unavailable' });
      expect(await quick.health()).toMatchObject({ ok: false, permanent: false });
      frozen = false;
      // Back: the next units run on fresh connections.
      await expect(quick.read((reader) => reader.getCustomer('cus_nobody'))).resolves.toBeNull();
      expect(await quick.health()).toEqual({ ok: true });
    } finally {
      frozen = false;
      await quick.close();
    }
  }, 30_000);

  it('health asks on the listener connection: a pool busy with requests is a healthy database', async () => {
    // Asked through the request pool, /healthz said 503 whenever the pool was busy (helper-55).
    const busy = await openPostgresStore({ connectionString: proxyUrl, poolSize: 1 });
    let release = () => {};
    try {
      const held = busy.transaction(async (tx) => {
        await tx.getCustomer('cus_nobody');
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await busy.health()).toEqual({ ok: true });
      release();
      await held;
    } finally {
      release();
      await busy.close();
    }
  });

  it('a unit waiting on a lock past the limit is rolled back by the server: 503, and nothing lands later', async () => {
    // The client's answer watchdog cut such a unit, whose writes then waited in the server's
    // buffer and committed after its caller was told 'outcome unknown' (helper-55's review).
    // The server's lock_timeout (a quarter of the answer timeout) ends the wait first.
    const patient = await openPostgresStore({
      connectionString: proxyUrl,
      answerTimeoutMs: 2_000,
      listen: false,
    });
    const other = new pg.Client({ connectionString: proxyUrl });
    await other.connect();
    const record = {
      scope: 'fault-scope',
      key: `lock-wait-${Date.now()}`,
      requestHash: 'h',
      statusCode: 200,
      responseBody: '{"mine":true}',
      createdAt: new Date().toISOString(),
    };
    try {
      // Another transaction holds the key's row (uncommitted): the unit's insert waits on it.
      await other.query('BEGIN');
      await other.query(
        `INSERT INTO idempotency (scope, key, request_hash, status_code, response_body, created_at)
         VALUES ($1, $2, 'x', 500, '{}', $3)`,
        [record.scope, record.key, record.createdAt],
      );
      const outcome = await patient
        .transaction(async (tx) => {
          await tx.getCustomer('cus_nobody');
          await tx.putIdempotency(record);
        })
        .then(
          () => 'committed',
          (error: unknown) => error,
        );
      expect(outcome).toMatchObject({
        code: 'service_unavailable',
        message: expect.stringMatching(/nothing of it was written/),
      });
      await other.query('ROLLBACK');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await patient.read((reader) => reader.getIdempotency(record.scope, record.key))).toBeNull();
    } finally {
      await other.end();
      await patient.close();
    }
  }, 30_000);

  it('a connection lost after COMMIT was sent is an unknown outcome: never retried, never called a failure', async () => {
    let attempts = 0;
    const record = {
      scope: 'fault-scope',
      key: `commit-cut-${Date.now()}`,
      requestHash: 'h',
      statusCode: 200,
      responseBody: '{}',
      createdAt: new Date().toISOString(),
    };
    cutAfterCommit = true;
    await expect(
      store.transaction(async (tx) => {
        attempts++;
        await tx.getCustomer('cus_nobody');
        // Not awaited by the store before COMMIT: it travels with it and dies with the socket.
        await tx.putIdempotency(record);
      }),
    ).rejects.toMatchObject({
      code: 'service_unavailable',
      message: expect.stringMatching(/outcome is unknown/),
    });
    expect(attempts).toBe(1);
    // It did commit: a retry of the unit would have run it twice.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await store.read((reader) => reader.getIdempotency(record.scope, record.key))).toEqual(record);
  });

  it("a key revocation whose COMMIT answer is lost still empties this process's key caches", async () => {
    const merchantId = `cus_cut_${Date.now()}`;
    await store.transaction(async (tx) => {
      await tx.insertCustomer({
        id: merchantId,
        userId: merchantId,
        displayName: 'Cut',
        passwordHash: 'scrypt$x',
        failedLoginCount: 0,
        loginLockedUntil: null,
        createdAt: new Date().toISOString(),
      });
      await tx.upsertMerchant({
        customerId: merchantId,
        name: 'Cut',
        allowedOrigins: [],
        createdAt: new Date().toISOString(),
      });
      await tx.insertApiKey({
        id: `key_${merchantId}`,
        merchantId,
        kind: 'secret',
        prefix: 'sk_cut',
        keyHash: `hash_${merchantId}`,
        createdAt: new Date().toISOString(),
        revokedAt: null,
      });
    });
    let announced = 0;
    const stop = store.onKeyRevoked(() => announced++);
    cutAfterCommit = true;
    await expect(
      store.transaction((tx) => tx.revokeApiKey(`key_${merchantId}`, merchantId, new Date().toISOString())),
    ).rejects.toMatchObject({ code: 'service_unavailable' });
    stop();
    // Its own NOTIFY is skipped as its own, and a retry finds the key revoked already.
    expect(announced).toBe(1);
  });

  it('reports the statement that failed, not the "transaction is aborted" answers behind it', async () => {
    // The idempotency lookup fails on its own (a NUL byte is no text in PostgreSQL) while the
    // account reads sent behind it in the same write fail only because of it.
    const failure = await store
      .transaction(async (tx) => {
        const lookup = tx.getIdempotency('fault-scope', 'bad\u0000key');
        tx.prefetchAccount?.('ta_nowhere');
        await lookup;
      })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: '22021' });
  });

  it('keeps serving after its LISTEN connection is reset', async () => {
    cutEverything();
    await new Promise((resolve) => setTimeout(resolve, 800));
    const value = await store.read((reader) => reader.getCustomerByUserId('fault-user'));
    expect(value?.userId).toBe('fault-user');
  });
});

describe('commits whose outcome was unknown', () => {
  it('are remembered, so their own NOTIFY is heard if they land after all (once, bounded)', () => {
    // This process skips its own NOTIFYs (it published its events at commit), except for
    // units whose COMMIT answer never came: those may land later (helper-55's review).
    const unsettled = new UnsettledCommits(3);
    expect(unsettled.landed(['evt_a'])).toEqual([]);
    unsettled.expect(['evt_a', 'evt_b'], 'rev-1');
    expect(unsettled.landed(['evt_x', 'evt_b'])).toEqual(['evt_b']);
    expect(unsettled.landed(['evt_b'])).toEqual([]);
    // Revocations by name: another revocation of this process, committed normally, does not
    // use up the one awaited (a counter did: helper-57's review).
    expect(unsettled.revocationLanded('rev-2')).toBe(false);
    expect(unsettled.revocationLanded(undefined)).toBe(false);
    expect(unsettled.revocationLanded('rev-1')).toBe(true);
    expect(unsettled.revocationLanded('rev-1')).toBe(false);
    // Past the bound the oldest are forgotten (their streams were resynced at the time).
    unsettled.expect(['evt_c', 'evt_d', 'evt_e'], undefined);
    expect(unsettled.landed(['evt_a', 'evt_c', 'evt_d', 'evt_e'])).toEqual(['evt_c', 'evt_d', 'evt_e']);
  });
});
