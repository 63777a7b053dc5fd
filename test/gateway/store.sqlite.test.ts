import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../packages/gateway/src/storage/sqlite.ts';
import { storeContract } from './store-contract.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'lockstep-store-'));
storeContract(
  'sqlite file',
  () => openSqliteStore({ path: path.join(dir, 'contract.sqlite') }),
  async () => rmSync(dir, { recursive: true, force: true }),
);
storeContract('sqlite :memory:', () => openSqliteStore({ path: ':memory:' }));
storeContract('sqlite file without group commit', () =>
  openSqliteStore({
    path: path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'single.sqlite'),
    groupCommit: false,
  }),
);

describe('embedded SQLite store', () => {
  it('runs in WAL mode with synchronous=FULL, migrates once and keeps data across reopen', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-store-')), 'reopen.sqlite');
    const store = await openSqliteStore({ path: file });
    await store.transaction((tx) =>
      tx.insertCustomer({
        id: 'cus_1',
        userId: 'mizuta',
        displayName: 'Mizuta',
        passwordHash: 'scrypt$x',
        failedLoginCount: 0,
        loginLockedUntil: null,
        createdAt: '2026-11-24T00:00:00.000Z',
      }),
    );
    await store.close();
    const reopened = await openSqliteStore({ path: file });
    expect((await reopened.read((reader) => reader.getCustomer('cus_1')))?.userId).toBe('mizuta');
    await reopened.close();
    const raw = new DatabaseSync(file);
    expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect((raw.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n).toBe(1);
    raw.close();
    // synchronous is a per-connection setting: check the store's own connection sets FULL (2).
    const probe = await openSqliteStore({ path: file });
    const writer = (probe as unknown as { writer: DatabaseSync }).writer;
    expect(writer.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 });
    await probe.close();
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
    const customer = (id: string) => ({
      id,
      userId: id,
      displayName: 'Busy',
      passwordHash: 'scrypt$x',
      failedLoginCount: 0,
      loginLockedUntil: null,
      createdAt: '2026-11-25T00:00:00.000Z',
    });
    const other = new DatabaseSync(file);
    other.exec('BEGIN IMMEDIATE');
    await expect(store.transaction((tx) => tx.insertCustomer(customer('cus_busy')))).rejects.toMatchObject({
      code: 'service_unavailable',
    });
    other.exec('ROLLBACK');
    other.close();
    await store.transaction((tx) => tx.insertCustomer(customer('cus_after')));
    expect(await store.read((reader) => reader.getCustomer('cus_busy'))).toBeNull();
    expect((await store.read((reader) => reader.getCustomer('cus_after')))?.id).toBe('cus_after');
    await store.close();
  });
});
