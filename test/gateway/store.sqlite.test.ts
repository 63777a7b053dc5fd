import { mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/gateway/src/config.ts';
import { openStore } from '../../packages/gateway/src/storage/open.ts';
import { outboxColumns, outboxValues } from '../../packages/gateway/src/storage/rows.ts';
import { openSqliteStore, sqliteStatements } from '../../packages/gateway/src/storage/sqlite.ts';
import { sqliteMigrations } from '../../packages/gateway/src/storage/sqlite-schema.ts';
import type { CustomerRecord } from '../../packages/gateway/src/storage/store.ts';
import { feedAccount, feedEvent } from './fixtures/feed-records.ts';
import { storeContract } from './store-contract.ts';
import { expectFirstReleaseRowsUpgraded, firstReleaseRows } from './upgrade-fixtures.ts';

/** A customer row for tests that only need something to write. */
function customer(id: string, fields: Partial<CustomerRecord> = {}): CustomerRecord {
  return {
    id,
    userId: id,
    displayName: id,
    passwordHash: 'scrypt$x',
    failedLoginCount: 0,
    loginLockedUntil: null,
    createdAt: '2026-11-24T00:00:00.000Z',
    ...fields,
  };
}

/** Runs `work` on a connection of its own to the file, as another process would. */
function olderReleaseSql<T>(file: string, work: (raw: DatabaseSync) => T): T {
  const raw = new DatabaseSync(file);
  try {
    raw.exec('PRAGMA busy_timeout = 5000');
    return work(raw);
  } finally {
    raw.close();
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
storeContract(
  'sqlite file',
  () => openSqliteStore({ path: path.join(dir, 'contract.sqlite') }),
  async () => rmSync(dir, { recursive: true, force: true }),
  {
    olderRelease: {
      claim: async (now, leaseUntil) =>
        olderReleaseSql(path.join(dir, 'contract.sqlite'), (raw) => {
          const rows = raw
            .prepare(
              `SELECT o.id FROM webhook_outbox o
               WHERE o.delivered_at IS NULL AND o.next_attempt_at <= ?
                 AND NOT EXISTS (
                   SELECT 1 FROM webhook_outbox earlier
                   WHERE earlier.endpoint_id = o.endpoint_id AND earlier.account_code = o.account_code
                     AND earlier.seq < o.seq AND earlier.delivered_at IS NULL)
               ORDER BY o.next_attempt_at, o.endpoint_id, o.account_code, o.seq LIMIT 100`,
            )
            .all(now) as Array<{ id: string }>;
          for (const row of rows) {
            raw.prepare('UPDATE webhook_outbox SET next_attempt_at = ? WHERE id = ?').run(leaseUntil, row.id);
          }
          return rows.map((row) => row.id);
        }),
      insert: async (record) =>
        olderReleaseSql(path.join(dir, 'contract.sqlite'), (raw) => {
          raw
            .prepare(`INSERT INTO webhook_outbox (${outboxColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
            .run(...outboxValues(record));
        }),
      finish: async (deliveryId, at) =>
        olderReleaseSql(path.join(dir, 'contract.sqlite'), (raw) => {
          raw
            .prepare(
              'UPDATE webhook_outbox SET delivered_at = ?, attempt_count = attempt_count + 1, last_error = NULL WHERE id = ?',
            )
            .run(at, deliveryId);
        }),
    },
  },
);
storeContract('sqlite :memory:', () => openSqliteStore({ path: ':memory:' }));
storeContract('sqlite file without group commit', () =>
  openSqliteStore({
    path: path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'single.sqlite'),
    groupCommit: false,
  }),
);

describe('embedded SQLite store', () => {
  it('runs in WAL mode, migrates once and keeps data across reopen', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'reopen.sqlite');
    const store = await openSqliteStore({ path: file });
    await store.transaction((tx) =>
      tx.insertCustomer(customer('cus_1', { userId: 'mizuta', displayName: 'Mizuta' })),
    );
    await store.close();
    const reopened = await openSqliteStore({ path: file });
    expect((await reopened.read((reader) => reader.getCustomer('cus_1')))?.userId).toBe('mizuta');
    await reopened.close();
    const raw = new DatabaseSync(file);
    expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect((raw.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n).toBe(
      sqliteMigrations.length,
    );
    raw.close();
    // synchronous is per connection: NORMAL (1) when the store syncs the WAL itself (the
    // default), FULL (2) when SQLite does.
    for (const [sync, level] of [
      ['async', 1],
      ['full', 2],
    ] as const) {
      const probe = await openSqliteStore({ path: file, sync });
      const writer = (probe as unknown as { writer: DatabaseSync }).writer;
      expect(writer.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: level });
      await probe.close();
    }
  });

  it('checkpoints the WAL off the event loop and keeps it bounded; the data stays readable', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
    const file = path.join(folder, 'checkpoint.sqlite');
    const bulky = (index: number) =>
      customer(`cus_${index}`, { userId: `user-${index}`, displayName: 'x'.repeat(2000) });
    const commits = 600;
    const walBytes: Record<string, number> = {};
    for (const checkpoint of ['worker', 'starved', 'none'] as const) {
      const store = await openSqliteStore({
        path: `${file}-${checkpoint}`,
        checkpointEveryCommits: 16,
        checkpointRestartFrames: 256,
      });
      const writer = (store as unknown as { writer: DatabaseSync }).writer;
      // SQLite's own checkpoint inside COMMIT is off: the worker checkpoints, and the writer
      // only copies the last few frames between transactions when the WAL restarts.
      expect(writer.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
      if (checkpoint === 'starved') {
        // A worker that never answers (as one starved of CPU, or still starting): the writer
        // checkpoints in its place every 4 × 16 commits.
        const { worker } = (store as unknown as { checkpointer: { worker: Worker } }).checkpointer;
        const post = worker.postMessage.bind(worker);
        worker.postMessage = (message: unknown) => {
          if (message === 'close') post(message);
        };
      }
      if (checkpoint === 'none') {
        // Without the worker (stopped here), nothing checkpoints: the WAL grows with every commit.
        await (store as unknown as { checkpointer: { close(): Promise<void> } }).checkpointer.close();
        writer.exec('PRAGMA wal_autocheckpoint = 0');
      }
      for (let index = 0; index < commits; index++) {
        // One commit each (every unit waits for its own), about one page of new data each.
        await store.transaction((tx) => tx.insertCustomer(bulky(index)));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      walBytes[checkpoint] = statSync(`${file}-${checkpoint}-wal`).size;
      expect(await store.read((reader) => reader.getCustomer(`cus_${commits - 1}`))).toMatchObject({
        userId: `user-${commits - 1}`,
      });
      await store.close();
    }
    // 600 commits of >= 2 KB each leave >= 1.2 MB of WAL frames unless checkpoints recycle it.
    expect(walBytes.none).toBeGreaterThan(1_200_000);
    expect(walBytes.worker).toBeLessThan(walBytes.none! / 4);
    expect(walBytes.starved).toBeLessThan(walBytes.none! / 4);
    const raw = new DatabaseSync(`${file}-worker`);
    expect((raw.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n).toBe(commits);
    raw.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('LOCKSTEP_SQLITE_CHECKPOINT=inline: no worker thread, SQLite checkpoints inside COMMIT, the WAL stays bounded', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
    expect(loadConfig({ LOCKSTEP_DATA_DIR: folder }).sqliteCheckpoint).toBe('worker');
    const config = loadConfig({ LOCKSTEP_DATA_DIR: folder, LOCKSTEP_SQLITE_CHECKPOINT: 'inline' });
    expect(() => loadConfig({ LOCKSTEP_DATA_DIR: folder, LOCKSTEP_SQLITE_CHECKPOINT: 'thread' })).toThrow(
      /LOCKSTEP_SQLITE_CHECKPOINT/,
    );
    const store = await openStore(config);
    const internals = store as unknown as { writer: DatabaseSync; checkpointer: unknown };
    expect(internals.checkpointer).toBeUndefined();
    expect(internals.writer.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 1000 });
    for (let index = 0; index < 1_500; index++) {
      await store.transaction((tx) =>
        tx.insertCustomer(
          customer(`cus_${index}`, { userId: `user-${index}`, displayName: 'x'.repeat(2000) }),
        ),
      );
    }
    // >= 3 MB written; SQLite's checkpoint every 1000 frames recycles the WAL (~4 MB at most).
    expect(statSync(path.join(folder, 'lockstep.sqlite-wal')).size).toBeLessThan(4_500_000);
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('hands checkpoints back to SQLite when the checkpoint worker dies, takes them back later, and still closes', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
    const store = await openSqliteStore({
      path: path.join(folder, 'worker-dies.sqlite'),
      checkpointRearmMs: 300,
    });
    const internals = store as unknown as {
      writer: DatabaseSync;
      checkpointer: { worker: { terminate(): Promise<number> } };
    };
    expect(internals.writer.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
    await internals.checkpointer.worker.terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(internals.writer.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({
      wal_autocheckpoint: 1000,
    });
    await store.transaction((tx) => tx.insertCustomer(customer('cus_after', { userId: 'after' })));
    expect((await store.read((reader) => reader.getCustomer('cus_after')))?.userId).toBe('after');
    // A new worker takes over after the re-arm delay.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(internals.writer.prepare('PRAGMA wal_autocheckpoint').get()).toEqual({ wal_autocheckpoint: 0 });
    expect(internals.checkpointer).toBeDefined();
    await store.close();
    rmSync(folder, { recursive: true, force: true });
  });

  it('migrates a version 1 file forward, keeping its stored idempotent answers', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'v1.sqlite');
    const raw = new DatabaseSync(file);
    raw.exec(`CREATE TABLE schema_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
    raw.exec((sqliteMigrations[0] as { sql: string }).sql);
    raw.exec("INSERT INTO schema_migrations VALUES (1, 'initial schema', '2026-11-24T00:00:00.000Z')");
    raw
      .prepare('INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)')
      .run('cus_1', 'key-1', 'hash-1', 201, '{"code":"ta_1"}', '2026-11-24T00:00:00.000Z');
    raw.exec(firstReleaseRows('1'));
    raw.close();
    const store = await openSqliteStore({ path: file });
    expect(await store.read((reader) => reader.getIdempotency('cus_1', 'key-1'))).toMatchObject({
      requestHash: 'hash-1',
      statusCode: 201,
      responseBody: '{"code":"ta_1"}',
    });
    const again = {
      scope: 'cus_1',
      key: 'key-1',
      requestHash: 'hash-2',
      statusCode: 200,
      responseBody: '{}',
      createdAt: '2026-11-24T00:00:01.000Z',
    };
    await expect(store.transaction((tx) => tx.putIdempotency(again))).rejects.toMatchObject({
      code: 'idempotency_key_in_use',
    });
    await expectFirstReleaseRowsUpgraded(store);
    await store.close();
    // A customer's newest accounts are read from an index in order, not all read and sorted.
    const upgraded = new DatabaseSync(file);
    const plan = upgraded
      .prepare(
        `EXPLAIN QUERY PLAN SELECT t.state FROM temporary_account_parties p
         JOIN temporary_accounts t ON t.code = p.code
         WHERE p.customer_id = ? ORDER BY p.created_at DESC, p.code LIMIT ?`,
      )
      .all('cus_1', 20)
      .map((row) => String((row as { detail: string }).detail))
      .join('\n');
    upgraded.close();
    expect(plan).toMatch(/temporary_account_parties_recent/);
    expect(plan).not.toMatch(/TEMP B-TREE/);
  });

  // 14: accepted deals a member lock holds (helper-95); 15: shipped deals a part refund left
  // awaiting funds (helper-100).
  it.each([14, 15])('migration %i makes every open account without a deadline due once', async (version) => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), `v${version - 1}.sqlite`);
    await (await openSqliteStore({ path: file })).close();
    // The file as the release before left it: one version back, an open deal with no deadline.
    const raw = new DatabaseSync(file);
    raw.exec(`DELETE FROM schema_migrations WHERE version >= ${version}`);
    const insert = raw.prepare(
      'INSERT INTO temporary_accounts (code, status, version, state, created_at, next_deadline_at) VALUES (?, ?, 1, ?, ?, NULL)',
    );
    insert.run('ta_open', 'funded', '{}', '2026-11-24T00:00:00.000Z');
    insert.run('ta_closed', 'dissolved', '{}', '2026-11-24T00:00:00.000Z');
    raw.close();
    await (await openSqliteStore({ path: file })).close();
    const upgraded = new DatabaseSync(file);
    const due = upgraded.prepare('SELECT code, next_deadline_at FROM temporary_accounts ORDER BY code').all();
    upgraded.close();
    expect(due.map((row) => [row.code, row.next_deadline_at === null])).toEqual([
      ['ta_closed', true],
      ['ta_open', false],
    ]);
  });

  it("keeps the parties' status right when a release that knows nothing of it writes", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'older.sqlite');
    await (await openSqliteStore({ path: file })).close();
    // After a rollback, the older release's statements name no party status.
    olderReleaseSql(file, (raw) =>
      raw.exec(`INSERT INTO customers (id, user_id, display_name, password_hash, created_at)
          VALUES ('cus_shop', 'shop', 'Shop', 'x', '2026-11-24T00:00:00.000Z');
        INSERT INTO temporary_accounts (code, status, version, state, created_at)
          VALUES ('ta_old', 'awaiting_funds', 1, '{"code":"ta_old"}', '2026-11-24T00:00:03.000Z');
        INSERT INTO temporary_account_parties (code, customer_id, created_at)
          VALUES ('ta_old', 'cus_shop', '2026-11-24T00:00:03.000Z');`),
    );
    const store = await openSqliteStore({ path: file });
    const listed = (status: 'funded' | 'awaiting_funds') =>
      store.read(async (reader) =>
        (await reader.listTemporaryAccounts('cus_shop', { limit: 10, status })).map(
          (account) => account.code,
        ),
      );
    expect(await listed('awaiting_funds')).toEqual(['ta_old']);
    await store.close();
    olderReleaseSql(file, (raw) =>
      raw.exec("UPDATE temporary_accounts SET status = 'funded', version = 2 WHERE code = 'ta_old'"),
    );
    const reopened = await openSqliteStore({ path: file });
    expect(
      await reopened.read(async (reader) =>
        (await reader.listTemporaryAccounts('cus_shop', { limit: 10, status: 'funded' })).map((a) => a.code),
      ),
    ).toEqual(['ta_old']);
    await reopened.close();
  });

  it('plans the webhook claim and the feed so that neither grows with history', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'plans.sqlite');
    await (await openSqliteStore({ path: file })).close();
    const raw = new DatabaseSync(file);
    const plan = (sql: string, ...params: Array<string | number>) =>
      raw
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...params)
        .map((row) => String((row as { detail: string }).detail));
    // The claim walks only deliveries it may take, in its own order, and stops at its limit.
    const claim = plan(sqliteStatements.claimDueOutbox, '2026-11-24T10:00:00.000Z', 16);
    expect(claim[0]).toMatch(/SEARCH o USING INDEX webhook_outbox_ready/);
    expect(claim.join('\n')).not.toMatch(/TEMP B-TREE/);
    // A small customer's feed starts from its parties; a large one's walks the feed in order.
    expect(plan(sqliteStatements.feedByAccount, 'cus_1', 0, 100)[0]).toMatch(
      /SEARCH p USING .*\(customer_id=\?\)/,
    );
    // A customer's accounts of one status come from an index in order.
    const byStatus = plan(sqliteStatements.listAccountsByStatus, 'cus_1', 'funded', 20);
    expect(byStatus[0]).toMatch(
      /SEARCH p USING .*INDEX temporary_account_parties_status \(customer_id=\? AND status=\?\)/,
    );
    expect(byStatus.join('\n')).not.toMatch(/TEMP B-TREE/);
    // The housekeeping sweep finds expired sessions by their expiry, not by reading them all.
    const expired = plan(sqliteStatements.deleteExpiredSessions, '2026-11-24T10:00:00.000Z', 1000);
    expect(expired.join('\n')).toMatch(
      /SEARCH sessions USING (COVERING )?INDEX sessions_expiry \(expires_at<\?\)/,
    );
    // ... and answers past their retention by their age, in order (never reading them all).
    const oldAnswers = plan(sqliteStatements.deleteIdempotencyBefore, '2026-11-24T10:00:00.000Z', 200);
    expect(oldAnswers.join('\n')).toMatch(/SEARCH idempotency USING INDEX idempotency_age \(created_at<\?\)/);
    expect(oldAnswers.join('\n')).not.toMatch(/TEMP B-TREE/);
    // ... and deals whose deadline passed, from the partial index on it.
    const dueDeals = plan(sqliteStatements.listAccountsDue, '2026-11-24T10:00:00.000Z', 100);
    expect(dueDeals.join('\n')).toMatch(
      /SEARCH temporary_accounts USING COVERING INDEX temporary_accounts_deadline \(\(next_deadline_at,code\)>\(\?,\?\) AND next_deadline_at<\?\)/,
    );
    expect(dueDeals.join('\n')).not.toMatch(/TEMP B-TREE/);
    const inOrder = plan(sqliteStatements.feedInOrder, 0, 'cus_1', 100);
    expect(inOrder[0]).toMatch(/SEARCH e USING INTEGER PRIMARY KEY \(rowid>\?\)/);
    expect(inOrder.join('\n')).not.toMatch(/TEMP B-TREE/);
    raw.close();
  });

  it('migration 13 makes deals awaiting funds due now, also one due later for an old ship clock, and nothing else', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'migrate.sqlite');
    const store = await openSqliteStore({ path: file });
    await store.transaction(async (tx) => {
      await tx.insertCustomer(customer('cus_a'));
      for (const [code, status] of [
        ['ta_none', 'awaiting_funds'],
        ['ta_later', 'awaiting_funds'],
        ['ta_funded', 'funded'],
      ] as const) {
        await tx.insertTemporaryAccount({ ...feedAccount(code, ['cus_a']), status });
      }
    });
    await store.close();
    const raw = new DatabaseSync(file);
    const set = raw.prepare('UPDATE temporary_accounts SET next_deadline_at = ? WHERE code = ?');
    set.run(null, 'ta_none');
    set.run('2999-01-01T00:00:00.000Z', 'ta_later');
    set.run('2999-01-01T00:00:00.000Z', 'ta_funded');
    const before = new Date().toISOString();
    raw.exec(sqliteMigrations.find((migration) => migration.version === 13)?.sql as string);
    const due: Record<string, string> = Object.fromEntries(
      (
        raw.prepare('SELECT code, next_deadline_at AS at FROM temporary_accounts').all() as Array<{
          code: string;
          at: string;
        }>
      ).map((row) => [row.code, row.at]),
    );
    raw.close();
    expect(String(due.ta_none) >= before && String(due.ta_none) <= new Date().toISOString()).toBe(true);
    expect(String(due.ta_later) <= new Date().toISOString()).toBe(true);
    expect(due.ta_funded).toBe('2999-01-01T00:00:00.000Z');
  });

  it("remembers where a large customer's feed had none of its events and walks on from there", async () => {
    const store = await openSqliteStore({
      path: path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'quiet.sqlite'),
    });
    const account = feedAccount;
    const event = feedEvent;
    await store.transaction(async (tx) => {
      for (const id of ['cus_large', 'cus_other']) await tx.insertCustomer(customer(id));
      for (let index = 0; index < 1_000; index++) {
        await tx.insertTemporaryAccount(account(`ta_${index}`, ['cus_other', 'cus_large']));
      }
      await tx.insertTemporaryAccount(account('ta_busy', ['cus_other']));
    });
    const [first] = await store.transaction((tx) => tx.appendEvents([event('ta_0', 1)]));
    await store.transaction((tx) =>
      tx.appendEvents(Array.from({ length: 30 }, (_, index) => event('ta_busy', index + 1))),
    );
    const ranges = (store as unknown as { readOps: { quietFeeds: { ranges: Map<string, unknown> } } }).readOps
      .quietFeeds.ranges;
    const poll = () =>
      store.read((reader) => reader.listEventsForCustomer('cus_large', { afterId: first?.id, limit: 10 }));
    expect(await poll()).toEqual([]);
    // Positions: 1 is its event, 2-31 are others'. The next poll from that cursor starts at 31.
    expect(ranges.get('cus_large')).toEqual({ from: 1, to: 31 });
    await store.transaction((tx) => tx.appendEvents([event('ta_busy', 31)]));
    expect(await poll()).toEqual([]);
    expect(ranges.get('cus_large')).toEqual({ from: 1, to: 32 });
    // A full page records nothing; a short one records past its last event.
    const mine = await store.transaction((tx) =>
      tx.appendEvents(Array.from({ length: 10 }, (_, index) => event(`ta_${index + 1}`, 1))),
    );
    expect((await poll()).map((item) => item.id)).toEqual(mine.map((item) => item.id));
    expect(ranges.get('cus_large')).toEqual({ from: 1, to: 32 });
    await store.transaction((tx) => tx.appendEvents([32, 33, 34].map((seq) => event('ta_busy', seq))));
    const more = await store.read((reader) =>
      reader.listEventsForCustomer('cus_large', { afterId: mine[4]?.id, limit: 10 }),
    );
    expect(more.map((item) => item.id)).toEqual(mine.slice(5).map((item) => item.id));
    expect(ranges.get('cus_large')).toEqual({ from: 42, to: 45 });
    await store.close();
  });

  describe('answers only after the WAL is synced', () => {
    /** A sync the test finishes by hand. */
    function manualSync() {
      const calls: Array<{ finish: () => void; fail: (error: Error) => void }> = [];
      return {
        calls,
        syncWal: () =>
          new Promise<void>((resolve, reject) => {
            calls.push({ finish: resolve, fail: reject });
          }),
      };
    }
    const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

    it('a write and a read that could see it both wait for the sync that follows the commit', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'sync.sqlite');
      const sync = manualSync();
      const store = await openSqliteStore({ path: file, syncWal: sync.syncWal });
      let written = false;
      const write = store
        .transaction((tx) => tx.insertCustomer(customer('c1')))
        .then(() => {
          written = true;
        });
      await tick();
      expect(sync.calls).toHaveLength(1);
      expect(written).toBe(false);
      let readValue: unknown = 'pending';
      const read = store
        .read((reader) => reader.getCustomer('c1'))
        .then((value) => {
          readValue = value?.id;
        });
      // A second write commits while the first sync runs; it needs a sync of its own.
      let secondWritten = false;
      const second = store
        .transaction((tx) => tx.insertCustomer(customer('c2')))
        .then(() => {
          secondWritten = true;
        });
      await tick();
      expect(readValue).toBe('pending');
      sync.calls[0]?.finish();
      await write;
      await read;
      expect(readValue).toBe('c1');
      await tick();
      expect(secondWritten).toBe(false);
      expect(sync.calls).toHaveLength(2);
      sync.calls[1]?.finish();
      await second;
      await store.close();
    });

    it('a failed sync refuses the unsynced commands and every later write with service_unavailable', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'sync-fail.sqlite');
      const sync = manualSync();
      const store = await openSqliteStore({ path: file, syncWal: sync.syncWal });
      const write = store.transaction((tx) => tx.insertCustomer(customer('c1')));
      const refused = expect(write).rejects.toMatchObject({ code: 'service_unavailable' });
      await tick();
      sync.calls[0]?.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      await refused;
      await expect(store.transaction((tx) => tx.insertCustomer(customer('c2')))).rejects.toMatchObject({
        code: 'service_unavailable',
      });
      await store.close();
    });

    it('units that run while a sync is in flight commit after it, and roll back if it fails', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'sync-open.sqlite');
      const sync = manualSync();
      const store = await openSqliteStore({ path: file, syncWal: sync.syncWal });
      const first = store.transaction((tx) => tx.insertCustomer(customer('c1')));
      const firstRefused = expect(first).rejects.toMatchObject({ code: 'service_unavailable' });
      await tick();
      let ran = false;
      const second = store.transaction(async (tx) => {
        await tx.insertCustomer(customer('c2'));
        ran = true;
      });
      const secondRefused = expect(second).rejects.toMatchObject({ code: 'service_unavailable' });
      await tick();
      // The second unit already ran (the event loop works while the disk syncs), uncommitted.
      expect(ran).toBe(true);
      expect(sync.calls).toHaveLength(1);
      sync.calls[0]?.fail(new Error('EIO: i/o error, fdatasync'));
      await firstRefused;
      await secondRefused;
      await store.close();
      const reopened = await openSqliteStore({ path: file });
      expect(await reopened.read((reader) => reader.getCustomer('c2'))).toBeNull();
      await reopened.close();
    });

    it('a sync failing while a drain is scheduled still settles the units left open', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'sync-race.sqlite');
      const sync = manualSync();
      const store = await openSqliteStore({ path: file, syncWal: sync.syncWal });
      const outcomes: Array<Promise<unknown>> = [];
      const settle = (promise: Promise<unknown>) =>
        outcomes.push(
          promise.then(
            () => 'ok',
            (error) => (error as { code?: string }).code,
          ),
        );
      settle(store.transaction((tx) => tx.insertCustomer(customer('c1'))));
      await tick();
      settle(store.transaction((tx) => tx.insertCustomer(customer('c2'))));
      await tick();
      // A third unit schedules a drain; the sync fails before that drain runs.
      settle(store.transaction((tx) => tx.insertCustomer(customer('c3'))));
      sync.calls[0]?.fail(new Error('EIO: i/o error, fdatasync'));
      const timeout = new Promise((resolve) => setTimeout(() => resolve('hung'), 2000));
      expect(await Promise.race([Promise.all(outcomes), timeout])).toEqual([
        'service_unavailable',
        'service_unavailable',
        'service_unavailable',
      ]);
      expect((store as unknown as { writer: DatabaseSync }).writer.isTransaction).toBe(false);
      await store.close();
    });

    it('finds the WAL beside the real file when the database path is a symbolic link', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
      const real = path.join(dir, 'real.sqlite');
      new DatabaseSync(real).close();
      symlinkSync(real, path.join(dir, 'link.sqlite'));
      const store = await openSqliteStore({ path: path.join(dir, 'link.sqlite') });
      await store.transaction((tx) => tx.insertCustomer(customer('s1')));
      expect((await store.read((reader) => reader.getCustomer('s1')))?.id).toBe('s1');
      await store.close();
    });

    it('the real sync makes commits durable without blocking: many writers, one sync per batch', async () => {
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'sync-real.sqlite');
      const store = await openSqliteStore({ path: file });
      await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          store.transaction((tx) => tx.insertCustomer(customer(`r${index}`))),
        ),
      );
      const counts = store as unknown as { committedBatches: number; durableBatches: number };
      expect(counts.durableBatches).toBe(counts.committedBatches);
      expect(counts.committedBatches).toBeLessThan(200);
      await store.close();
      const raw = new DatabaseSync(file);
      expect((raw.prepare('SELECT count(*) AS n FROM customers').get() as { n: number }).n).toBe(200);
      raw.close();
    });
  });

  it('refuses to rewrite history: journal entries and postings are immutable', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'immutable.sqlite');
    const store = await openSqliteStore({ path: file });
    await store.transaction(async (tx) => {
      await tx.insertCustomer({
        id: 'c',
        userId: 'u1',
        displayName: 'U',
        passwordHash: 'x',
        failedLoginCount: 0,
        loginLockedUntil: null,
        createdAt: 'now',
      });
      await tx.insertUsualAccount({ id: 'a', ownerId: 'c', currency: 'JPY', name: 'n', createdAt: 'now' });
      await tx.postJournal({
        id: 'j1',
        kind: 'top_up',
        reference: null,
        at: 'now',
        transfers: [
          { from: 'external:JPY', to: 'usual:a', amountMinor: 5, currency: 'JPY', purpose: 'top_up' },
        ],
      });
    });
    await store.close();
    const raw = new DatabaseSync(file);
    expect(() => raw.exec("UPDATE postings SET amount_minor = 6 WHERE entry_id = 'j1'")).toThrow(/immutable/);
    expect(() => raw.exec("DELETE FROM journal_entries WHERE id = 'j1'")).toThrow(/immutable/);
    raw.close();
  });
});

describe('embedded SQLite store under faults', () => {
  it('refuses a batch with service_unavailable when another process holds the file, then recovers', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'busy.sqlite');
    const store = await openSqliteStore({ path: file, busyTimeoutMs: 50 });
    const other = new DatabaseSync(file);
    other.exec('BEGIN IMMEDIATE');
    await expect(store.transaction((tx) => tx.insertCustomer(customer('cus_busy')))).rejects.toMatchObject({
      code: 'service_unavailable',
    });
    other.exec('ROLLBACK');
    // While another process holds the lock, a batch waits on timers: the event loop keeps
    // running (timers fire while the batch still waits), reads are served, and the batch commits
    // once the lock is free. Judged by state, not by time (a busy machine made a 100 ms bound on
    // a timer's lag fail): SQLite's own busy handler slept on the event loop, so no timer fired
    // before the batch was refused at the end of busyTimeoutMs.
    const patient = await openSqliteStore({ path: file, busyTimeoutMs: 60_000 });
    other.exec('BEGIN IMMEDIATE');
    const waiting = patient.transaction((tx) => tx.insertCustomer(customer('cus_waited')));
    let settled = false;
    void waiting.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (let tick = 0; tick < 5; tick++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(settled).toBe(false);
    expect(await patient.read((reader) => reader.getCustomer('cus_after'))).toBeNull();
    expect(settled).toBe(false);
    other.exec('COMMIT');
    other.close();
    await waiting;
    expect((await patient.read((reader) => reader.getCustomer('cus_waited')))?.id).toBe('cus_waited');
    await patient.close();
    // Each unit waits its own time: one queued later is not refused with an earlier one.
    const timed = await openSqliteStore({ path: file, busyTimeoutMs: 400 });
    const holder = new DatabaseSync(file);
    holder.exec('BEGIN IMMEDIATE');
    const early = timed.transaction((tx) => tx.insertCustomer(customer('cus_early')));
    const earlyOutcome = early.then(
      () => 'committed',
      (error: { code?: string }) => error.code,
    );
    await new Promise((resolve) => setTimeout(resolve, 250));
    const late = timed.transaction((tx) => tx.insertCustomer(customer('cus_late')));
    expect(await earlyOutcome).toBe('service_unavailable');
    holder.exec('ROLLBACK');
    holder.close();
    await late;
    expect((await timed.read((reader) => reader.getCustomer('cus_late')))?.id).toBe('cus_late');
    expect(await timed.read((reader) => reader.getCustomer('cus_early'))).toBeNull();
    await timed.close();
    await store.transaction((tx) => tx.insertCustomer(customer('cus_after')));
    expect(await store.read((reader) => reader.getCustomer('cus_busy'))).toBeNull();
    expect((await store.read((reader) => reader.getCustomer('cus_after')))?.id).toBe('cus_after');
    await store.close();
  });
});
