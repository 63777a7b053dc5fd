import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../packages/gateway/src/storage/postgres.ts';
import { openSqliteStore, sqliteStatements } from '../../packages/gateway/src/storage/sqlite.ts';
import type { Store } from '../../packages/gateway/src/storage/store.ts';
import { createTestDatabase, pgAvailable } from '../support/postgres.ts';
import { feedAccount, feedCustomer, feedEvent } from './fixtures/feed-records.ts';

/**
 * Property: a large customer's feed, read through the stretches the embedded store remembers as
 * holding none of the customer's events (QuietFeeds), lists exactly what the uncached walk lists
 * in the same snapshot, whatever mix of events (its own, others', in new accounts, rolled
 * back), group commits and cursors came before.
 */
const larges = ['cus_l0', 'cus_l1'];
const accountsPerLarge = 1_000;

type Op =
  | { kind: 'append'; customer: number; target: 'busy' | 'own' | 'new'; account: number; rollback: boolean }
  | { kind: 'poll'; customer: number; limit: number; from: 'cursor' | 'start' | 'older'; advance: boolean }
  | { kind: 'settle' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      customer: fc.nat(larges.length - 1),
      target: fc.constantFrom('busy' as const, 'busy' as const, 'own' as const, 'new' as const),
      account: fc.nat(accountsPerLarge - 1),
      rollback: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('poll' as const),
      customer: fc.nat(larges.length - 1),
      limit: fc.integer({ min: 1, max: 5 }),
      from: fc.constantFrom('cursor' as const, 'cursor' as const, 'start' as const, 'older' as const),
      advance: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'settle' as const }) },
);

/** Where a poll starts: the customer's cursor, the start, or the middle of what it has seen. */
function cursorFor(
  step: { from: 'cursor' | 'start' | 'older' },
  seen: string[],
  cursor: string | undefined,
): string | undefined {
  if (step.from === 'start') return undefined;
  return step.from === 'older' ? seen[Math.floor(seen.length / 2)] : cursor;
}

const account = feedAccount;
const event = feedEvent;

describe('a large customer feed on the embedded store', () => {
  it('lists what the uncached walk lists, through any remembered quiet stretches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 150 }), async (ops) => {
        const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-feed-'));
        const store = await openSqliteStore({ path: path.join(folder, 'feed.sqlite') });
        const reader = (store as unknown as { reader: DatabaseSync }).reader;
        const seqs = new Map<string, number>();
        const own = larges.map((customer) =>
          Array.from({ length: accountsPerLarge }, (_, i) => `ta_${customer}_${i}`),
        );
        try {
          await store.transaction(async (tx) => {
            for (const id of [...larges, 'cus_other']) {
              await tx.insertCustomer(feedCustomer(id));
            }
            for (const [index, customer] of larges.entries()) {
              for (const code of own[index] as string[])
                await tx.insertTemporaryAccount(account(code, ['cus_other', customer]));
            }
            await tx.insertTemporaryAccount(account('ta_busy', ['cus_other']));
          });
          const cursors: Array<string | undefined> = larges.map(() => undefined);
          const seen: string[][] = larges.map(() => []);
          const pending: Promise<unknown>[] = [];
          let created = 0;
          for (const step of ops) {
            if (step.kind === 'settle') {
              await Promise.all(pending.splice(0));
            } else if (step.kind === 'append') {
              // Queued, not awaited: appends and polls interleave in group commits and snapshots.
              pending.push(
                store
                  .transaction(async (tx) => {
                    let code =
                      step.target === 'busy' ? 'ta_busy' : (own[step.customer]?.[step.account] as string);
                    if (step.target === 'new') {
                      code = `ta_new_${created++}`;
                      await tx.insertTemporaryAccount(
                        account(code, ['cus_other', larges[step.customer] as string]),
                      );
                    }
                    const seq = (seqs.get(code) ?? 0) + 1;
                    await tx.appendEvents([event(code, seq)]);
                    if (step.rollback) throw new Error('rolled back');
                    seqs.set(code, seq);
                  })
                  .catch(() => {}),
              );
            } else {
              const customer = larges[step.customer] as string;
              const history = seen[step.customer] as string[];
              const after = cursorFor(step, history, cursors[step.customer]);
              pending.push(
                store.read(async (snapshot) => {
                  const listed = await snapshot.listEventsForCustomer(customer, {
                    afterId: after,
                    limit: step.limit,
                  });
                  // The uncached walk, in the same read transaction (the same snapshot).
                  const position = after
                    ? Number(
                        (
                          reader.prepare('SELECT position FROM account_events WHERE id = ?').get(after) as {
                            position: number;
                          }
                        ).position,
                      )
                    : 0;
                  const walked = reader
                    .prepare(sqliteStatements.feedInOrder)
                    .all(position, customer, step.limit);
                  expect(listed.map((item) => item.id)).toEqual(
                    walked.map((row) => String((row as { id: string }).id)),
                  );
                  if (listed.length > 0 && step.advance) {
                    cursors[step.customer] = listed.at(-1)?.id;
                    history.push(...listed.map((item) => item.id));
                  }
                }),
              );
            }
          }
          await Promise.all(pending);
        } finally {
          await store.close();
          rmSync(folder, { recursive: true, force: true });
        }
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});

/**
 * The same property against a model, on both stores, with every step awaited: a large
 * customer's feed pages through exactly its own committed events in commit order, from any
 * cursor, however many polls and others' events came between.
 */
describe.each(storesUnderTest())('a large customer feed against a model: $name', ({ open }) => {
  it('lists its own committed events in commit order after any cursor', async () => {
    const { store, close } = await open();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 60 }), async (ops) => {
          const prefix = `r${run++}_${Date.now().toString(36)}`;
          const customers = larges.map((customer) => `${prefix}_${customer}`);
          const own = customers.map((customer) =>
            Array.from({ length: accountsPerLarge }, (_, i) => `ta_${customer}_${i}`),
          );
          const busy = `ta_${prefix}_busy`;
          await store.transaction(async (tx) => {
            for (const id of [...customers, `${prefix}_other`]) {
              await tx.insertCustomer(feedCustomer(id));
            }
            for (const [index, customer] of customers.entries()) {
              for (const code of own[index] as string[]) {
                await tx.insertTemporaryAccount(account(code, [`${prefix}_other`, customer]));
              }
            }
            await tx.insertTemporaryAccount(account(busy, [`${prefix}_other`]));
          });
          const seqs = new Map<string, number>();
          /** Per customer, the ids of its committed events, in commit order. */
          const model: string[][] = customers.map(() => []);
          const cursors: Array<string | undefined> = customers.map(() => undefined);
          let created = 0;
          for (const step of ops) {
            if (step.kind === 'append') {
              let code = step.target === 'busy' ? busy : (own[step.customer]?.[step.account] as string);
              const stored = await store
                .transaction(async (tx) => {
                  if (step.target === 'new') {
                    code = `ta_${prefix}_new_${created++}`;
                    await tx.insertTemporaryAccount(
                      account(code, [`${prefix}_other`, customers[step.customer] as string]),
                    );
                  }
                  const seq = (seqs.get(code) ?? 0) + 1;
                  const [appended] = await tx.appendEvents([event(code, seq)]);
                  if (step.rollback) throw new Error('rolled back');
                  seqs.set(code, seq);
                  return appended;
                })
                .catch(() => undefined);
              if (stored && step.target !== 'busy') model[step.customer]?.push(stored.id);
            } else if (step.kind === 'poll') {
              const mine = model[step.customer] as string[];
              const after = cursorFor(step, mine, cursors[step.customer]);
              const from = after === undefined ? 0 : mine.indexOf(after) + 1;
              const expected = mine.slice(from, from + step.limit);
              let listed: string[] = [];
              for (let attempt = 0; ; attempt++) {
                listed = (
                  await store.read((reader) =>
                    reader.listEventsForCustomer(customers[step.customer] as string, {
                      afterId: after,
                      limit: step.limit,
                    }),
                  )
                ).map((item) => item.id);
                // PostgreSQL's feed trails a commit while an older transaction runs anywhere in
                // the cluster (other tests' too): it must catch up, never skip.
                const trailing = listed.every((id, index) => id === expected[index]);
                if (store.kind === 'sqlite' || !trailing || listed.length === expected.length) break;
                if (attempt >= 200) break;
                await new Promise((resolve) => setTimeout(resolve, 25));
              }
              expect(listed).toEqual(expected);
              if (listed.length > 0 && step.advance) cursors[step.customer] = listed.at(-1);
            }
          }
        }),
        { numRuns: 6 },
      );
    } finally {
      await close();
    }
  }, 180_000);
});

function storesUnderTest() {
  const stores: Array<{ name: string; open: () => Promise<{ store: Store; close: () => Promise<void> }> }> = [
    {
      name: 'embedded',
      open: async () => {
        const folder = mkdtempSync(path.join(tmpdir(), 'lockstep-feed-model-'));
        const store = await openSqliteStore({ path: path.join(folder, 'feed.sqlite') });
        return {
          store,
          close: async () => {
            await store.close();
            rmSync(folder, { recursive: true, force: true });
          },
        };
      },
    },
  ];
  if (pgAvailable()) {
    stores.push({
      name: 'postgres',
      open: async () => {
        const database = await createTestDatabase();
        const store = await openPostgresStore({ connectionString: database.url, listen: false });
        return {
          store,
          close: async () => {
            await store.close();
            await database.drop();
          },
        };
      },
    });
  }
  return stores;
}
