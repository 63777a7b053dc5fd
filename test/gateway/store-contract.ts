import { LockstepError, type TemporaryAccount } from '@lockstep/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewOutboxRecord, Store, StoreTx } from '../../packages/gateway/src/storage/store.ts';

export interface ContractOptions {
  /**
   * The webhook statements of the release before parking (41e2556), run through a connection
   * of their own: a process of that release beside this one, or after a rollback. The tests of
   * mixed releases run where it is given.
   */
  olderRelease?: {
    /** Its claim: ids of the due deliveries it takes (it leases them until `leaseUntil`). */
    claim(now: string, leaseUntil: string): Promise<string[]>;
    /** Its "delivered": no unparking. */
    finish(deliveryId: string, at: string): Promise<void>;
    /** Its queuing: never parked. */
    insert(record: NewOutboxRecord): Promise<void>;
  };
}

/**
 * The store contract, written once against the `Store` interface only, so every adapter
 * (embedded SQLite, PostgreSQL) runs exactly the same suite.
 */
export function storeContract(
  name: string,
  open: () => Promise<Store>,
  cleanup?: () => Promise<void>,
  options: ContractOptions = {},
): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    let counter = 0;
    const unique = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${counter++}`;
    const now = '2026-11-24T10:00:00.000Z';

    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store.close();
      await cleanup?.();
    });

    const apiKey = (merchantId: string) => ({
      id: unique('key'),
      merchantId,
      kind: 'secret' as const,
      prefix: 'sk_1',
      keyHash: unique('hash'),
      createdAt: now,
      revokedAt: null,
    });

    async function customer(tx: StoreTx) {
      const id = unique('cus');
      await tx.insertCustomer({
        id,
        userId: unique('user'),
        displayName: 'Test',
        passwordHash: 'scrypt$x',
        failedLoginCount: 0,
        loginLockedUntil: null,
        createdAt: now,
      });
      return id;
    }

    async function fundedUsual(amountMinor: number) {
      return store.transaction(async (tx) => {
        const ownerId = await customer(tx);
        const id = unique('acc');
        await tx.insertUsualAccount({ id, ownerId, currency: 'JPY', name: 'Ordinary', createdAt: now });
        if (amountMinor > 0) {
          await tx.postJournal({
            id: unique('jrn'),
            kind: 'top_up',
            reference: id,
            at: now,
            transfers: [
              { from: 'external:JPY', to: `usual:${id}`, amountMinor, currency: 'JPY', purpose: 'top_up' },
            ],
          });
        }
        return { id, ownerId };
      });
    }

    /** Posts one principal transfer between two usual accounts. */
    function move(tx: StoreTx, fromId: string, toId: string, amountMinor: number) {
      return tx.postJournal({
        id: unique('jrn'),
        kind: 'transfer',
        reference: null,
        at: now,
        transfers: [
          {
            from: `usual:${fromId}`,
            to: `usual:${toId}`,
            amountMinor,
            currency: 'JPY',
            purpose: 'principal',
          },
        ],
      });
    }

    function account(code: string, parties: string[], version = 1): TemporaryAccount {
      return {
        code,
        currency: 'JPY',
        balanceMinor: 0,
        requiredMinor: 1000,
        createdBy: parties[0] as string,
        parties: parties.map((customerId, index) => ({
          customerId,
          role: index === 0 ? 'buyer' : 'seller',
          lockPpm: index === 0 ? 1_000_000 : 0,
          group: null,
        })),
        mode: 'deal',
        releasePolicy: { kind: 'all_others' },
        status: 'awaiting_funds',
        invoiceId: null,
        creationFeeDueMinor: 0,
        shipment: null,
        verdict: null,
        version,
        createdAt: now,
        updatedAt: now,
      };
    }

    it('stores customers with unique user IDs and updates login state', async () => {
      const userId = unique('user');
      const record = {
        id: unique('cus'),
        userId,
        displayName: 'Mizuta',
        passwordHash: 'scrypt$x',
        failedLoginCount: 0,
        loginLockedUntil: null,
        createdAt: now,
      };
      await store.transaction((tx) => tx.insertCustomer(record));
      expect(await store.read((reader) => reader.getCustomerByUserId(userId))).toEqual(record);
      await expect(
        store.transaction((tx) => tx.insertCustomer({ ...record, id: unique('cus') })),
      ).rejects.toThrow();
    });

    it('counts login attempts per subject and source atomically, and refuses them while locked', async () => {
      const subject = unique('cus');
      const stale = '2026-11-24T09:45:00.000Z';
      const reserve = (at: string, source = '198.51.100.1') =>
        store.transaction((tx) => tx.reserveSourceAttempt(subject, source, at, stale));
      const attempts = await Promise.all(Array.from({ length: 10 }, () => reserve(now)));
      expect(
        attempts.map((attempt) => ('attempt' in attempt ? attempt.attempt : 0)).sort((a, b) => a - b),
      ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      // Another source of the same subject counts apart.
      expect(await reserve(now, '198.51.100.2')).toEqual({ attempt: 1, known: false });
      const lockedUntil = '2026-11-24T10:15:00.000Z';
      await store.transaction((tx) => tx.settleSourceAttempts(subject, '198.51.100.1', { lockedUntil }));
      expect(await reserve(now)).toEqual({ lockedUntil });
      // The lock ran out: counting starts again.
      expect(await reserve(lockedUntil)).toEqual({ attempt: 1, known: false });
      // A good password: the source is known until then, and its count starts again.
      await store.transaction((tx) =>
        tx.settleSourceAttempts(subject, '198.51.100.1', { knownUntil: '2027-02-22T10:00:00.000Z' }),
      );
      expect(await reserve(lockedUntil)).toEqual({ attempt: 1, known: true });
      // A count last touched before `staleBefore` starts again too.
      expect(
        await store.transaction((tx) =>
          tx.reserveSourceAttempt(
            subject,
            '198.51.100.2',
            '2026-11-24T11:00:00.000Z',
            '2026-11-24T10:45:00.000Z',
          ),
        ),
      ).toEqual({ attempt: 1, known: false });
    });
    it("counts a source's failures over all user IDs in a fixed window, atomically, up to a maximum", async () => {
      const source = `${unique('src')}`;
      const at = (minute: number) => `2026-11-24T10:${String(minute).padStart(2, '0')}:00.000Z`;
      // Windows of 15 minutes: one that started at or before `now - 15 min` is over.
      const reserve = (minute: number) =>
        store.transaction((tx) => tx.reserveSourceWindow(source, at(minute), at(minute - 15), 5));
      const first = await Promise.all(Array.from({ length: 8 }, () => reserve(20)));
      expect(first.filter((answer) => answer.counted)).toHaveLength(5);
      expect(new Set(first.map((answer) => answer.windowStartedAt))).toEqual(new Set([at(20)]));
      // Full until the window ends, even a minute later.
      expect(await reserve(21)).toEqual({ counted: false, windowStartedAt: at(20) });
      // A given-back attempt makes room again, in the same window only.
      await store.transaction((tx) => tx.releaseSourceWindow(source, at(20)));
      expect(await reserve(22)).toEqual({ counted: true, windowStartedAt: at(20) });
      expect(await reserve(23)).toEqual({ counted: false, windowStartedAt: at(20) });
      await store.transaction((tx) => tx.releaseSourceWindow(source, at(19)));
      expect(await reserve(24)).toEqual({ counted: false, windowStartedAt: at(20) });
      // The window is over: a new one starts with this attempt, and the old is stale for upkeep.
      expect(await reserve(35)).toEqual({ counted: true, windowStartedAt: at(35) });
      expect(await store.transaction((tx) => tx.deleteStaleSourceWindows(at(35), 100))).toBe(0);
      expect(
        await store.transaction((tx) => tx.deleteStaleSourceWindows(at(36), 100)),
      ).toBeGreaterThanOrEqual(1);
      expect(await reserve(36)).toEqual({ counted: true, windowStartedAt: at(36) });
    });
    it('remembers only the latest known sources of a subject', async () => {
      const subject = unique('cus');
      const at = (minute: number) => `2026-11-24T10:${String(minute).padStart(2, '0')}:00.000Z`;
      for (let index = 0; index < 25; index++) {
        const source = `198.51.100.${index}`;
        await store.transaction(async (tx) => {
          await tx.reserveSourceAttempt(subject, source, now, '2026-11-24T09:00:00.000Z');
          // Known until a later time the later the login: source 24 is the latest.
          await tx.settleSourceAttempts(subject, source, {
            knownUntil: `2027-02-22T10:${String(index).padStart(2, '0')}:00.000Z`,
          });
        });
      }
      expect(await store.transaction((tx) => tx.forgetKnownSourcesBeyond(subject, 20, at(1)))).toBe(5);
      const known = async (index: number) => {
        const answer = await store.transaction((tx) =>
          tx.reserveSourceAttempt(subject, `198.51.100.${index}`, at(2), '2026-11-24T09:00:00.000Z'),
        );
        return 'known' in answer && answer.known;
      };
      expect(await Promise.all([0, 4, 5, 24].map(known))).toEqual([false, false, true, true]);
    });

    it('keeps usual-account balances in the ledger; a balanced entry moves money', async () => {
      const from = await fundedUsual(10_000);
      const to = await fundedUsual(0);
      await store.transaction((tx) =>
        tx.postJournal({
          id: unique('jrn'),
          kind: 'transfer',
          reference: null,
          at: now,
          transfers: [
            {
              from: `usual:${from.id}`,
              to: `usual:${to.id}`,
              amountMinor: 2_500,
              currency: 'JPY',
              purpose: 'principal',
            },
          ],
        }),
      );
      const [a, b] = await store.read(async (reader) => [
        await reader.getUsualAccount(from.id),
        await reader.getUsualAccount(to.id),
      ]);
      expect(a?.balanceMinor).toBe(7_500);
      expect(b?.balanceMinor).toBe(2_500);
      expect(await store.read((reader) => reader.listUsualAccounts(to.ownerId))).toHaveLength(1);
    });

    it('refuses an entry that would make an account negative and leaves nothing of it behind', async () => {
      const from = await fundedUsual(1_000);
      const to = await fundedUsual(0);
      const before = await store.read((reader) => reader.listBalances());
      const entryId = unique('jrn');
      const attempt = store.transaction((tx) =>
        tx.postJournal({
          id: entryId,
          kind: 'transfer',
          reference: null,
          at: now,
          transfers: [
            {
              from: `usual:${from.id}`,
              to: `usual:${to.id}`,
              amountMinor: 600,
              currency: 'JPY',
              purpose: 'principal',
            },
            {
              from: `usual:${from.id}`,
              to: `usual:${to.id}`,
              amountMinor: 600,
              currency: 'JPY',
              purpose: 'principal',
            },
          ],
        }),
      );
      await expect(attempt).rejects.toMatchObject({ code: 'insufficient_funds' });
      expect(await store.read((reader) => reader.listBalances())).toEqual(before);
      const journal = await store.read((reader) => reader.listJournal({ limit: 100_000 }));
      expect(journal.some((entry) => entry.id === entryId)).toBe(false);
    });

    it('refuses concurrent debits that together overdraw an account, explaining the refusal', async () => {
      // Each entry alone is covered by the balance it was checked against: only the store, under
      // its row locks, can see that the two together are not.
      const from = await fundedUsual(1_000);
      const to = await fundedUsual(0);
      const debit = () =>
        store.transaction(async (tx) => {
          // On a shared database both units may read 1000 here; the embedded store runs them
          // one after the other.
          await tx.listUsualAccounts(from.ownerId);
          await move(tx, from.id, to.id, 600);
          return 'moved';
        });
      const results = await Promise.allSettled([debit(), debit()]);
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const refused = results.find((result) => result.status === 'rejected') as PromiseRejectedResult;
      expect(refused.reason).toMatchObject({
        code: 'insufficient_funds',
        details: { availableMinor: 400, requestedMinor: 600 },
      });
      const balances = await store.read(async (reader) => [
        (await reader.getUsualAccount(from.id))?.balanceMinor,
        (await reader.getUsualAccount(to.id))?.balanceMinor,
      ]);
      expect(balances).toEqual([400, 600]);
    });

    it("reads a customer's usual accounts named up front, and sees the unit's own postings after", async () => {
      const from = await fundedUsual(1_000);
      const to = await fundedUsual(0);
      const seen = await store.transaction(async (tx) => {
        const lookup = tx.getIdempotency(unique('scope'), 'k');
        tx.prefetchUsualAccounts?.(from.ownerId);
        await lookup;
        const before = await tx.listUsualAccounts(from.ownerId);
        await move(tx, from.id, to.id, 250);
        const after = await tx.listUsualAccounts(from.ownerId);
        return [before.map((usual) => usual.balanceMinor), after.map((usual) => usual.balanceMinor)];
      });
      expect(seen).toEqual([[1_000], [750]]);
      // Named up front, then the unit moves money or opens an account before its first read:
      // that read sees the unit's own writes, not the answer sent before them.
      expect(
        await store.transaction(async (tx) => {
          tx.prefetchUsualAccounts?.(from.ownerId);
          await move(tx, from.id, to.id, 50);
          return (await tx.listUsualAccounts(from.ownerId)).map((usual) => usual.balanceMinor);
        }),
      ).toEqual([700]);
      const second = unique('acc');
      expect(
        await store.transaction(async (tx) => {
          tx.prefetchUsualAccounts?.(to.ownerId);
          await tx.insertUsualAccount({
            id: second,
            ownerId: to.ownerId,
            currency: 'JPY',
            name: 'Savings',
            createdAt: now,
          });
          return (await tx.listUsualAccounts(to.ownerId)).map((usual) => usual.id).sort();
        }),
      ).toEqual([to.id, second].sort());
      // Named up front for someone else: the unit's own read is not answered with it.
      expect(
        await store.transaction(async (tx) => {
          tx.prefetchUsualAccounts?.(to.ownerId);
          return (await tx.listUsualAccounts(from.ownerId)).map((usual) => usual.id);
        }),
      ).toEqual([from.id]);
    });

    it('answers a lookup of one call, and refuses a second call in it', async () => {
      const id = await store.transaction((tx) => customer(tx));
      expect((await store.lookup((reader) => reader.getCustomer(id)))?.id).toBe(id);
      await expect(
        store.lookup(async (reader) => {
          await reader.getCustomer(id);
          return reader.getCustomer(id);
        }),
      ).rejects.toThrow(/one store call/);
      await expect(
        store.lookup((reader) => Promise.all([reader.getCustomer(id), reader.getCustomer(id)])),
      ).rejects.toThrow(/one store call/);
      // The store is unharmed.
      expect((await store.lookup((reader) => reader.getCustomer(id)))?.id).toBe(id);
    });

    it('lets only external accounts go negative, and every entry balances', async () => {
      const target = await fundedUsual(123);
      expect(await store.read((reader) => reader.getBalance('external:JPY'))).toBeLessThanOrEqual(-123);
      const journal = await store.read((reader) => reader.listJournal({ limit: 100_000 }));
      for (const entry of journal) {
        expect(entry.postings.reduce((sum, posting) => sum + posting.amountMinor, 0)).toBe(0);
      }
      expect(journal.some((entry) => entry.reference === target.id)).toBe(true);
    });

    // 10 x 10^15 passes 2^53 - 1 on the account; 1100 x 9 * 10^15 passes even 2^63 in total.
    it.each([
      [10, 1_000_000_000_000_000],
      [1100, 9_000_000_000_000_000],
    ])(
      'keeps balances exact: %i top-ups of %i in one entry are refused, not rounded',
      async (count, amountMinor) => {
        const target = await fundedUsual(0);
        const transfers = Array.from({ length: count }, () => ({
          from: 'external:JPY' as const,
          to: `usual:${target.id}` as const,
          amountMinor,
          currency: 'JPY' as const,
          purpose: 'top_up' as const,
        }));
        await expect(
          store.transaction((tx) =>
            tx.postJournal({ id: unique('jrn'), kind: 'top_up', reference: null, at: now, transfers }),
          ),
        ).rejects.toMatchObject({ code: 'amount_out_of_range' });
        expect((await store.read((reader) => reader.getUsualAccount(target.id)))?.balanceMinor).toBe(0);
      },
    );

    it('refuses a currency mismatch', async () => {
      const target = await fundedUsual(0);
      await expect(
        store.transaction((tx) =>
          tx.postJournal({
            id: unique('jrn'),
            kind: 'top_up',
            reference: null,
            at: now,
            transfers: [
              {
                from: 'external:USD',
                to: `usual:${target.id}`,
                amountMinor: 5,
                currency: 'USD',
                purpose: 'top_up',
              },
            ],
          }),
        ),
      ).rejects.toMatchObject({ code: 'currency_mismatch' });
    });

    it('stores temporary accounts with optimistic versions and never reuses a code', async () => {
      const parties = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      const code = unique('ta');
      await store.transaction((tx) => tx.insertTemporaryAccount(account(code, parties)));
      expect(await store.read((reader) => reader.getTemporaryAccount(code))).toEqual(account(code, parties));
      expect(await store.read((reader) => reader.getBalance(`temporary:${code}`))).toBe(0);
      await store.transaction((tx) =>
        tx.updateTemporaryAccount({ ...account(code, parties, 2), status: 'dissolved' }, 1),
      );
      await expect(
        store.transaction((tx) => tx.updateTemporaryAccount(account(code, parties, 3), 1)),
      ).rejects.toMatchObject({ code: 'conflict' });
      // A stale update followed by more work in the same unit (an adapter may send writes
      // later, with its next statement): still a conflict, and nothing of the unit lands.
      await expect(
        store.transaction(async (tx) => {
          await tx.updateTemporaryAccount(account(code, parties, 3), 1);
          await tx.appendEvents([
            {
              accountCode: code,
              seq: 99,
              type: 'lock.changed',
              at: '2026-11-24T00:00:00.000Z',
              actor: 'c',
              data: {},
            },
          ]);
          return tx.getTemporaryAccount(code);
        }),
      ).rejects.toMatchObject({ code: 'conflict' });
      expect(await store.read((reader) => reader.listEvents(code, 98, 10))).toEqual([]);
      await expect(
        store.transaction((tx) => tx.insertTemporaryAccount(account(code, parties))),
      ).rejects.toMatchObject({
        code: 'conflict',
      });
      const listed = await store.read((reader) =>
        reader.listTemporaryAccounts(parties[1] as string, { limit: 10 }),
      );
      expect(listed.map((item) => item.code)).toEqual([code]);
      expect(
        await store.read((reader) =>
          reader.listTemporaryAccounts(parties[1] as string, { limit: 10, status: 'funded' }),
        ),
      ).toEqual([]);
    });

    it('lists the deals whose next deadline passed, earliest first, as their states change', async () => {
      const parties = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      // A funded deal with the seller's lock on ships by `shipBy` (its next deadline).
      const locked = (code: string, shipBy: string, version = 1): TemporaryAccount => {
        const base = account(code, parties, version);
        return {
          ...base,
          status: 'funded',
          balanceMinor: 1000,
          parties: base.parties.map((party) => ({ ...party, lockPpm: 1_000_000 })),
          deadlines: { shipBy, verdictBy: null, shipMissed: false },
        };
      };
      // Far in the future, so no other test's deals are due before these.
      const [early, late, none] = [unique('ta'), unique('ta'), unique('ta')];
      await store.transaction(async (tx) => {
        await tx.insertTemporaryAccount(locked(late, '2099-01-03T00:00:00.000Z'));
        await tx.insertTemporaryAccount(locked(early, '2099-01-02T00:00:00.000Z'));
        await tx.insertTemporaryAccount(account(none, parties));
      });
      const due = (now: string) =>
        store.read(async (reader) =>
          (await reader.listAccountsDue(now, 1000))
            .map((deal) => deal.code)
            .filter((code) => [early, late, none].includes(code)),
        );
      expect(await due('2099-01-01T00:00:00.000Z')).toEqual([]);
      expect(await due('2099-01-02T00:00:00.000Z')).toEqual([early]);
      expect(await due('2099-01-05T00:00:00.000Z')).toEqual([early, late]);
      // Shipped: nothing is due until a verdict deadline is set; the update keeps the index.
      await store.transaction((tx) =>
        tx.updateTemporaryAccount(
          {
            ...locked(early, '2099-01-02T00:00:00.000Z', 2),
            shipment: { carrier: 'c', trackingNumber: 't', shippedAt: '2099-01-01T00:00:00.000Z' },
            deadlines: {
              shipBy: '2099-01-02T00:00:00.000Z',
              verdictBy: '2099-01-04T00:00:00.000Z',
              shipMissed: false,
            },
          },
          1,
        ),
      );
      expect(await due('2099-01-03T00:00:00.000Z')).toEqual([late]);
      expect(await due('2099-01-05T00:00:00.000Z')).toEqual([late, early]);
    });

    it("lists a customer's accounts of one status, newest first, as their statuses change", async () => {
      const [buyer, seller] = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      const codes = [unique('ta'), unique('ta'), unique('ta')];
      await store.transaction(async (tx) => {
        for (const [index, code] of codes.entries()) {
          await tx.insertTemporaryAccount({
            ...account(code, [buyer as string, seller as string]),
            createdAt: `2026-11-24T10:00:0${index}.000Z`,
          });
        }
      });
      const listed = async (customerId: string, status: TemporaryAccount['status']) =>
        (await store.read((reader) => reader.listTemporaryAccounts(customerId, { limit: 10, status }))).map(
          (item) => item.code,
        );
      expect(await listed(seller as string, 'awaiting_funds')).toEqual([...codes].reverse());
      const move = (code: string, status: TemporaryAccount['status'], version: number) =>
        store.transaction((tx) =>
          tx.updateTemporaryAccount(
            { ...account(code, [buyer as string, seller as string], version), status },
            version - 1,
          ),
        );
      await move(codes[0] as string, 'funded', 2);
      await move(codes[2] as string, 'funded', 2);
      // Both parties see the change; an update that leaves the status alone changes nothing.
      for (const party of [buyer, seller]) {
        expect(await listed(party as string, 'funded')).toEqual([codes[2], codes[0]]);
        expect(await listed(party as string, 'awaiting_funds')).toEqual([codes[1]]);
      }
      await move(codes[2] as string, 'funded', 3);
      await move(codes[0] as string, 'dissolved', 3);
      expect(await listed(seller as string, 'funded')).toEqual([codes[2]]);
      expect(await listed(seller as string, 'dissolved')).toEqual([codes[0]]);
      // A failed unit leaves the listing as it was.
      await expect(
        store.transaction(async (tx) => {
          await tx.updateTemporaryAccount(
            { ...account(codes[1] as string, [buyer as string, seller as string], 2), status: 'funded' },
            1,
          );
          throw new Error('the unit fails after the update');
        }),
      ).rejects.toThrow('the unit fails');
      expect(await listed(seller as string, 'funded')).toEqual([codes[2]]);
    });

    it('a command unit that names its account up front reads its own writes and the current endpoints', async () => {
      const parties = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      const seller = parties[1] as string;
      await store.transaction((tx) =>
        tx.upsertMerchant({ customerId: seller, name: 'S', allowedOrigins: [], createdAt: now }),
      );
      const endpoint = {
        id: unique('whe'),
        merchantId: seller,
        url: 'http://hook.test',
        enabled: true,
        createdAt: now,
      };
      await store.transaction((tx) => tx.insertWebhookEndpoint(endpoint));
      const code = unique('ta');
      await store.transaction((tx) => tx.insertTemporaryAccount(account(code, parties)));
      const seen = await store.transaction(async (tx) => {
        const lookup = tx.getIdempotency(unique('scope'), 'k');
        tx.prefetchAccount?.(code);
        await lookup;
        const before = await tx.getTemporaryAccount(code);
        await tx.updateTemporaryAccount({ ...account(code, parties, 2), status: 'funded' }, 1);
        const after = await tx.getTemporaryAccount(code);
        return {
          before: before?.version,
          after: after?.status,
          ofParties: await tx.listWebhookEndpointsOf(parties),
          ofSellerOnly: await tx.listWebhookEndpointsOf([seller]),
          ofOthers: await tx.listWebhookEndpointsOf([parties[0] as string]),
        };
      });
      expect(seen).toEqual({
        before: 1,
        after: 'funded',
        ofParties: [endpoint],
        ofSellerOnly: [endpoint],
        ofOthers: [],
      });
      // Written before it was read: the read sees the write, not what was fetched up front.
      expect(
        await store.transaction(async (tx) => {
          tx.prefetchAccount?.(code);
          await tx.updateTemporaryAccount(
            { ...account(code, parties, 3), status: 'funded', balanceMinor: 7 },
            2,
          );
          return (await tx.getTemporaryAccount(code))?.balanceMinor;
        }),
      ).toBe(7);
      // A stale version is refused even when nothing is awaited after it, and nothing lands.
      await expect(
        store.transaction(async (tx) => {
          tx.prefetchAccount?.(code);
          await tx.getTemporaryAccount(code);
          await tx.updateTemporaryAccount({ ...account(code, parties, 4), status: 'dissolved' }, 1);
        }),
      ).rejects.toMatchObject({ code: 'conflict' });
      expect((await store.read((reader) => reader.getTemporaryAccount(code)))?.status).toBe('funded');
      // Naming an account that does not exist finds nothing and breaks nothing.
      expect(
        await store.transaction(async (tx) => {
          tx.prefetchAccount?.('ta_missing');
          return tx.getTemporaryAccount('ta_missing');
        }),
      ).toBeNull();
    });

    it("lists a customer's feed in commit order for a party to 3 accounts and to 1,000+", async () => {
      // The embedded store reads a small customer's feed account by account and a large one's
      // in feed order; both must page through the same events in the same order.
      const [small, large, other] = await store.transaction(async (tx) => [
        await customer(tx),
        await customer(tx),
        await customer(tx),
      ]);
      const codes = Array.from({ length: 1_005 }, () => unique('ta'));
      const smallCodes = new Set([codes[10], codes[500], codes[1_000]]);
      const unrelated = unique('ta');
      await store.transaction(async (tx) => {
        for (const code of codes) {
          await tx.insertTemporaryAccount(
            account(code, [smallCodes.has(code) ? (small as string) : (other as string), large as string]),
          );
        }
        await tx.insertTemporaryAccount(account(unrelated, [other as string, unique('cus')]));
      });
      // Two events per account, interleaved across accounts, with events of an unrelated one.
      const order = [...codes.keys()].sort((a, b) => ((a * 7919) % 1_005) - ((b * 7919) % 1_005));
      const appended = await store.transaction((tx) =>
        tx.appendEvents(
          [1, 2].flatMap((seq) =>
            order.flatMap((index) => [
              {
                type: 'lock.changed' as const,
                accountCode: codes[index] as string,
                seq,
                at: now,
                actor: large as string,
                data: {},
              },
              ...(index % 100 === 0
                ? [
                    {
                      type: 'lock.changed' as const,
                      accountCode: unrelated,
                      seq: seq * 10_000 + index,
                      at: now,
                      actor: other as string,
                      data: {},
                    },
                  ]
                : []),
            ]),
          ),
        ),
      );
      const pages = async (customerId: string, limit: number, expected: number) => {
        for (let attempt = 0; ; attempt++) {
          const ids: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await store.read((reader) =>
              reader.listEventsForCustomer(customerId, { afterId: after, limit }),
            );
            ids.push(...page.map((event) => event.id));
            if (page.length < limit) break;
            after = page.at(-1)?.id;
          }
          // PostgreSQL may trail a commit while an older transaction runs (see above).
          if (ids.length >= expected || attempt >= 200) return ids;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };
      const ofSmall = appended.filter((event) => smallCodes.has(event.accountCode)).map((event) => event.id);
      expect(ofSmall).toHaveLength(6);
      expect(await pages(small as string, 4, 6)).toEqual(ofSmall);
      const ofLarge = appended.filter((event) => event.accountCode !== unrelated).map((event) => event.id);
      expect(await pages(large as string, 500, ofLarge.length)).toEqual(ofLarge);
    });

    it("keeps listing a large, quiet customer's own new events while others' pile up", async () => {
      // The embedded store remembers, per customer, the stretch of feed a poll walked without
      // finding its events, and starts the next poll past it: these polls must still see every
      // event of the customer, in order, wherever it lands.
      const [large, other] = (await store.transaction(async (tx) => [
        await customer(tx),
        await customer(tx),
      ])) as [string, string];
      const codes = Array.from({ length: 1_000 }, () => unique('ta'));
      const busy = unique('ta');
      await store.transaction(async (tx) => {
        for (const code of codes) await tx.insertTemporaryAccount(account(code, [other, large]));
        await tx.insertTemporaryAccount(account(busy, [other, unique('cus')]));
      });
      let busySeq = 0;
      const event = (accountCode: string, seq: number) => ({
        type: 'lock.changed' as const,
        accountCode,
        seq,
        at: now,
        actor: other,
        data: {},
      });
      const busyEvents = (count: number) => Array.from({ length: count }, () => event(busy, ++busySeq));
      /** The customer's feed after `after`; waits while PostgreSQL's feed trails a commit. */
      const feed = async (after: string | undefined, limit: number, expected: number) => {
        for (let attempt = 0; ; attempt++) {
          const page = await store.read((reader) =>
            reader.listEventsForCustomer(large, { afterId: after, limit }),
          );
          if (page.length >= expected || attempt >= 200) return page.map((item) => item.id);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };
      const [first] = await store.transaction((tx) => tx.appendEvents([event(codes[0] as string, 1)]));
      const firstId = first?.id as string;
      expect(await feed(firstId, 100, 0)).toEqual([]);
      await store.transaction((tx) => tx.appendEvents(busyEvents(50)));
      expect(await feed(firstId, 100, 0)).toEqual([]);
      // One of its events between others', then a poll from the same cursor and from the new one.
      const second = await store.transaction((tx) =>
        tx.appendEvents([...busyEvents(1), event(codes[1] as string, 1), ...busyEvents(1)]),
      );
      const secondId = second[1]?.id as string;
      expect(await feed(firstId, 100, 1)).toEqual([secondId]);
      expect(await feed(secondId, 100, 0)).toEqual([]);
      await store.transaction((tx) => tx.appendEvents(busyEvents(20)));
      expect(await feed(secondId, 100, 0)).toEqual([]);
      // A new account of the customer, created after those polls, and its first event.
      const later = unique('ta');
      const [third] = await store.transaction(async (tx) => {
        await tx.insertTemporaryAccount(account(later, [large, other]));
        return tx.appendEvents([event(later, 1), ...busyEvents(5)]);
      });
      const thirdId = third?.id as string;
      expect(await feed(secondId, 100, 1)).toEqual([thirdId]);
      // Older cursors, and none, still list everything after them.
      expect(await feed(firstId, 100, 2)).toEqual([secondId, thirdId]);
      expect(await feed(undefined, 2, 2)).toEqual([firstId, secondId]);
      expect(await feed(undefined, 100, 3)).toEqual([firstId, secondId, thirdId]);
      expect(await feed(thirdId, 100, 0)).toEqual([]);
    });

    it('appends events in order, with global ids, and lists them per account and per customer', async () => {
      const parties = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      const code = unique('ta');
      await store.transaction((tx) => tx.insertTemporaryAccount(account(code, parties)));
      const stored = await store.transaction((tx) =>
        tx.appendEvents(
          [1, 2, 3].map((seq) => ({
            type: 'lock.changed' as const,
            accountCode: code,
            seq,
            at: now,
            actor: parties[0] as string,
            data: { lockPpm: seq },
          })),
        ),
      );
      expect(new Set(stored.map((event) => event.id)).size).toBe(3);
      const events = await store.read((reader) => reader.listEvents(code, 1, 10));
      expect(events.map((event) => event.seq)).toEqual([2, 3]);
      expect(await store.read((reader) => reader.getEvent(stored[0]?.id as string))).toEqual(stored[0]);
      // The customer feed may trail a commit while older transactions are still running (on
      // PostgreSQL it shows only what no running transaction can precede), never reorder it.
      let feed: Awaited<ReturnType<StoreTx['listEventsForCustomer']>> = [];
      for (let attempt = 0; attempt < 200 && feed.length < 2; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 25));
        feed = await store.read((reader) =>
          reader.listEventsForCustomer(parties[1] as string, { afterId: stored[0]?.id, limit: 10 }),
        );
      }
      expect(feed.map((event) => event.seq)).toEqual([2, 3]);
      await expect(
        store.transaction((tx) => tx.appendEvents([{ ...stored[0]!, id: undefined } as never])),
      ).rejects.toThrow();
      // A write the database refuses (seq 1 is taken), then more writes and an idempotency record
      // (an adapter may send writes without waiting for their answers): the unit fails and
      // nothing of it lands, with or without the record riding on the COMMIT.
      const event = (seq: number) => ({
        type: 'lock.changed' as const,
        accountCode: code,
        seq,
        at: now,
        actor: parties[0] as string,
        data: {},
      });
      const scope = unique('scope');
      for (const withRecord of [true, false]) {
        await expect(
          store.transaction(async (tx) => {
            await tx.appendEvents([event(1)]);
            await tx.appendEvents([event(4)]);
            if (withRecord) {
              await tx.putIdempotency({
                scope,
                key: 'k',
                requestHash: 'h',
                statusCode: 200,
                responseBody: '{}',
                createdAt: now,
              });
            }
          }),
        ).rejects.toThrow();
      }
      expect(await store.read((reader) => reader.listEvents(code, 3, 10))).toEqual([]);
      expect(await store.read((reader) => reader.getIdempotency(scope, 'k'))).toBeNull();
      // The same with a refused write and nothing after it, so COMMIT travels alone.
      const delivery = {
        id: unique('dlv'),
        endpointId: unique('no-such-endpoint'),
        eventId: stored[0]!.id,
        accountCode: code,
        seq: 1,
        attemptCount: 0,
        nextAttemptAt: now,
        deliveredAt: null,
        lastError: null,
      };
      await expect(store.transaction((tx) => tx.insertOutbox([delivery]))).rejects.toThrow();
      expect(await store.read((reader) => reader.getOutbox(delivery.id))).toBeNull();
      // The store is still usable, and seq 4 is free.
      await store.transaction((tx) => tx.appendEvents([event(4)]));
      expect((await store.read((reader) => reader.listEvents(code, 3, 10))).map((e) => e.seq)).toEqual([4]);
    });

    it('records idempotency results per scope and key', async () => {
      const record = {
        scope: unique('scope'),
        key: 'key-1',
        requestHash: 'h1',
        statusCode: 201,
        responseBody: '{"ok":true}',
        createdAt: now,
      };
      await store.transaction((tx) => tx.putIdempotency(record));
      expect(await store.read((reader) => reader.getIdempotency(record.scope, 'key-1'))).toEqual(record);
      expect(await store.read((reader) => reader.getIdempotency(`${record.scope}x`, 'key-1'))).toBeNull();
      await expect(store.transaction((tx) => tx.putIdempotency(record))).rejects.toBeInstanceOf(
        LockstepError,
      );
    });

    it('deletes stored answers past their retention, oldest first, in batches', async () => {
      // Stored in time order, as a gateway stores them, and newer than any other test's answers
      // (which go first).
      const scope = unique('scope');
      const day = (n: number) => `2099-01-0${n}T00:00:00.000Z`;
      for (const [index, createdAt] of [day(1), day(1), day(2), day(3)].entries()) {
        await store.transaction((tx) =>
          tx.putIdempotency({
            scope,
            key: `k${index}`,
            requestHash: 'h',
            statusCode: 200,
            responseBody: '{}',
            createdAt,
          }),
        );
      }
      let deleted = 0;
      for (;;) {
        const batch = await store.transaction((tx) => tx.deleteIdempotencyBefore(day(2), 1));
        expect(batch).toBeLessThanOrEqual(1);
        if (batch === 0) break;
        deleted += batch;
      }
      expect(deleted).toBeGreaterThanOrEqual(2);
      const kept = async (key: string) =>
        (await store.read((reader) => reader.getIdempotency(scope, key))) !== null;
      expect(await Promise.all(['k0', 'k1', 'k2', 'k3'].map(kept))).toEqual([false, false, true, true]);
      expect(await store.transaction((tx) => tx.deleteIdempotencyBefore(day(3), 10))).toBe(1);
      expect(await Promise.all(['k2', 'k3'].map(kept))).toEqual([false, true]);
    });

    it('keeps sessions until deleted or expired', async () => {
      const customerId = await store.transaction((tx) => customer(tx));
      const session = {
        tokenHash: unique('tok'),
        customerId,
        csrfTokenHash: 'c',
        createdAt: now,
        expiresAt: '2026-11-24T11:00:00.000Z',
      };
      await store.transaction((tx) => tx.insertSession(session));
      expect(await store.read((reader) => reader.getSession(session.tokenHash))).toEqual(session);
      // Expired sessions go in batches of at most `limit`; a live one stays.
      const others = ['10:30', '10:45', '10:50'].map((time) => ({
        ...session,
        tokenHash: unique('tok'),
        expiresAt: `2026-11-24T${time}:00.000Z`,
      }));
      const live = { ...session, tokenHash: unique('tok'), expiresAt: '2026-11-24T13:00:00.000Z' };
      await store.transaction(async (tx) => {
        for (const record of [...others, live]) await tx.insertSession(record);
      });
      const at = '2026-11-24T12:00:00.000Z';
      expect(await store.transaction((tx) => tx.deleteExpiredSessions(at, 2))).toBe(2);
      let deleted = 2;
      for (let batch = 0; batch < 100; batch++) {
        const count = await store.transaction((tx) => tx.deleteExpiredSessions(at, 2));
        deleted += count;
        if (count < 2) break;
      }
      expect(deleted).toBeGreaterThanOrEqual(4);
      for (const record of [session, ...others]) {
        expect(await store.read((reader) => reader.getSession(record.tokenHash))).toBeNull();
      }
      expect(await store.read((reader) => reader.getSession(live.tokenHash))).toEqual(live);
    });

    it('inserts a merchant once, also when two units race to (the loser changes nothing)', async () => {
      const merchantId = await store.transaction((tx) => customer(tx));
      const insert = (name: string) =>
        store.transaction(async (tx) => {
          const inserted = await tx.insertMerchant({
            customerId: merchantId,
            name,
            allowedOrigins: [`http://${name}.test`],
            createdAt: now,
          });
          // Each unit also writes what a creation writes after it (keys), so both are in flight.
          if (inserted) await tx.insertApiKey({ ...apiKey(merchantId), prefix: name });
          return inserted;
        });
      const results = await Promise.all([insert('first'), insert('second')]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results[0] ? 'first' : 'second';
      expect(await store.read((reader) => reader.getMerchant(merchantId))).toMatchObject({
        name: winner,
        allowedOrigins: [`http://${winner}.test`],
      });
      expect((await store.read((reader) => reader.listApiKeys(merchantId))).map((key) => key.prefix)).toEqual(
        [winner],
      );
      expect(await insert('third')).toBe(false);
    });

    it('stores merchants, API keys (revocable once), invoices claimed once, and signing keys', async () => {
      const merchantId = await store.transaction((tx) => customer(tx));
      await store.transaction((tx) =>
        tx.upsertMerchant({
          customerId: merchantId,
          name: 'Shop',
          allowedOrigins: ['http://a.test'],
          createdAt: now,
        }),
      );
      expect((await store.read((reader) => reader.getMerchant(merchantId)))?.allowedOrigins).toEqual([
        'http://a.test',
      ]);
      const key = apiKey(merchantId);
      await store.transaction((tx) => tx.insertApiKey(key));
      expect(await store.read((reader) => reader.getApiKeyByHash(key.keyHash))).toEqual(key);
      expect(await store.transaction((tx) => tx.revokeApiKey(key.id, merchantId, now))).toBe(true);
      expect(await store.transaction((tx) => tx.revokeApiKey(key.id, merchantId, now))).toBe(false);
      expect((await store.read((reader) => reader.listApiKeys(merchantId)))[0]?.revokedAt).toBe(now);

      const invoice = {
        id: unique('inv'),
        merchantId,
        amountMinor: 100,
        currency: 'JPY' as const,
        orderReference: 'o',
        description: 'd',
        payeeContact: 'c',
        createdAt: now,
        expiresAt: now,
        token: 't',
        temporaryAccountCode: null,
      };
      await store.transaction((tx) => tx.insertInvoice(invoice));
      expect(await store.transaction((tx) => tx.claimInvoice(invoice.id, 'ta_1'))).toBe(true);
      expect(await store.transaction((tx) => tx.claimInvoice(invoice.id, 'ta_2'))).toBe(false);
      expect((await store.read((reader) => reader.getInvoice(invoice.id)))?.temporaryAccountCode).toBe(
        'ta_1',
      );

      const signing = {
        kid: unique('kid'),
        alg: 'EdDSA' as const,
        publicJwk: { kty: 'OKP' },
        privateJwk: { kty: 'OKP', d: 'x' },
        createdAt: now,
        retiresAt: '2027-03-01T00:00:00.000Z',
        expiresAt: '2027-04-01T00:00:00.000Z',
      };
      await store.transaction((tx) => tx.upsertSigningKey(signing));
      await store.transaction((tx) =>
        tx.upsertSigningKey({ ...signing, retiresAt: '2027-01-01T00:00:00.000Z' }),
      );
      const keys = await store.read((reader) => reader.listSigningKeys());
      expect(keys.filter((candidate) => candidate.kid === signing.kid)).toEqual([
        { ...signing, retiresAt: '2027-01-01T00:00:00.000Z' },
      ]);
      // A key's dates only come closer: a rotation that read the row before a revocation
      // committed cannot give the revoked key its 31 days back (helper-107).
      await store.transaction((tx) => tx.upsertSigningKey({ ...signing, expiresAt: now }));
      await store.transaction((tx) =>
        tx.upsertSigningKey({
          ...signing,
          retiresAt: '2027-02-01T00:00:00.000Z',
          expiresAt: '2027-05-01T00:00:00.000Z',
        }),
      );
      expect(
        (await store.read((reader) => reader.listSigningKeys())).find((key) => key.kid === signing.kid),
      ).toEqual({
        ...signing,
        retiresAt: '2027-01-01T00:00:00.000Z',
        expiresAt: now,
      });
      // Sealing replaces the secret only while it is the one read; retiring keeps the seal.
      const sealed = { sealed: 'jwe' };
      expect(
        await store.transaction((tx) => tx.sealSigningKey(signing.kid, signing.privateJwk, sealed)),
      ).toBe(true);
      expect(
        await store.transaction((tx) =>
          tx.sealSigningKey(signing.kid, signing.privateJwk, { sealed: 'other' }),
        ),
      ).toBe(false);
      await store.transaction((tx) => tx.upsertSigningKey({ ...signing, retiresAt: now }));
      expect(
        (await store.read((reader) => reader.listSigningKeys())).find((key) => key.kid === signing.kid),
      ).toEqual({ ...signing, privateJwk: sealed, retiresAt: now, expiresAt: now });
    });

    it('claims webhook deliveries in per-account order, with a lease, and records outcomes', async () => {
      const merchantId = await store.transaction((tx) => customer(tx));
      await store.transaction((tx) =>
        tx.upsertMerchant({ customerId: merchantId, name: 'S', allowedOrigins: [], createdAt: now }),
      );
      const endpoint = {
        id: unique('whe'),
        merchantId,
        url: 'http://hook.test',
        enabled: true,
        createdAt: now,
      };
      await store.transaction((tx) => tx.insertWebhookEndpoint(endpoint));
      expect(await store.read((reader) => reader.listWebhookEndpoints(merchantId))).toEqual([endpoint]);
      expect(await store.read((reader) => reader.listWebhookEndpointsOf([merchantId, 'cus_nobody']))).toEqual(
        [endpoint],
      );
      const code = unique('ta');
      const rows = [1, 2].map((seq) => ({
        id: unique('dlv'),
        endpointId: endpoint.id,
        eventId: unique('evt'),
        accountCode: code,
        seq,
        attemptCount: 0,
        nextAttemptAt: now,
        deliveredAt: null,
        lastError: null,
      }));
      await store.transaction((tx) => tx.insertOutbox(rows));
      const later = '2026-11-24T10:00:01.000Z';
      const lease = '2026-11-24T10:00:30.000Z';
      const first = await store.transaction((tx) => tx.claimDueOutbox(later, lease, 10));
      // seq 2 waits until seq 1 is delivered.
      expect(first.filter((row) => row.accountCode === code).map((row) => row.seq)).toEqual([1]);
      // Leased: a second worker gets nothing of it.
      expect(
        (await store.transaction((tx) => tx.claimDueOutbox(later, lease, 10))).filter(
          (row) => row.accountCode === code,
        ),
      ).toEqual([]);
      await store.transaction((tx) => tx.markOutboxFailed(rows[0]!.id, 'HTTP 500', later));
      const retry = await store.transaction((tx) => tx.claimDueOutbox(later, lease, 10));
      expect(retry.filter((row) => row.accountCode === code).map((row) => row.seq)).toEqual([1]);
      await store.transaction((tx) => tx.markOutboxDelivered(rows[0]!.id, later));
      const next = await store.transaction((tx) => tx.claimDueOutbox(later, lease, 10));
      expect(next.filter((row) => row.accountCode === code).map((row) => row.seq)).toEqual([2]);
      expect(await store.read((reader) => reader.getOutbox(rows[0]!.id))).toMatchObject({
        attemptCount: 2,
        deliveredAt: later,
        lastError: null,
      });
      // Fencing: a worker whose lease ran out (and was re-claimed) cannot mark the row done.
      const fencedCode = unique('ta');
      const fenced = {
        ...rows[0]!,
        id: unique('dlv'),
        eventId: unique('evt'),
        accountCode: fencedCode,
        seq: 1,
      };
      await store.transaction((tx) => tx.insertOutbox([fenced]));
      const leaseA = '2026-11-24T10:01:00.000Z';
      const leaseB = '2026-11-24T10:02:00.000Z';
      const claimA = (await store.transaction((tx) => tx.claimDueOutbox(later, leaseA, 50))).find(
        (row) => row.id === fenced.id,
      );
      expect(claimA?.nextAttemptAt).toBe(leaseA);
      const claimB = (await store.transaction((tx) => tx.claimDueOutbox(leaseA, leaseB, 50))).find(
        (row) => row.id === fenced.id,
      );
      expect(claimB?.nextAttemptAt).toBe(leaseB);
      await store.transaction((tx) => tx.markOutboxDelivered(fenced.id, leaseA, leaseA)); // stale: no-op
      expect((await store.read((reader) => reader.getOutbox(fenced.id)))?.deliveredAt).toBeNull();
      await store.transaction((tx) => tx.markOutboxDelivered(fenced.id, leaseA, leaseB));
      expect((await store.read((reader) => reader.getOutbox(fenced.id)))?.deliveredAt).toBe(leaseA);

      // A given-up delivery is finished: it holds nothing back and keeps its reason.
      const more = [3, 4].map((seq) => ({ ...rows[0]!, id: unique('dlv'), eventId: unique('evt'), seq }));
      await store.transaction((tx) => tx.insertOutbox(more));
      await store.transaction((tx) => tx.claimDueOutbox(later, lease, 10));
      await store.transaction((tx) => tx.markOutboxGivenUp(rows[1]!.id, later, 'HTTP 410'));
      await store.transaction((tx) => tx.markOutboxGivenUp(more[0]!.id, later, 'HTTP 410'));
      const after = await store.transaction((tx) => tx.claimDueOutbox(lease, lease, 10));
      expect(after.filter((row) => row.accountCode === code).map((row) => row.seq)).toEqual([4]);
      expect(await store.read((reader) => reader.getOutbox(more[0]!.id))).toMatchObject({
        lastError: 'given up: HTTP 410',
      });
      expect(
        await store.transaction((tx) => tx.setWebhookEndpointEnabled(endpoint.id, merchantId, false)),
      ).toBe(true);
      expect((await store.read((reader) => reader.listWebhookEndpoints(merchantId)))[0]?.enabled).toBe(false);
    });

    /** A webhook endpoint of a fresh merchant, and outbox rows for it. */
    async function outboxFixture() {
      const merchantId = await store.transaction((tx) => customer(tx));
      await store.transaction((tx) =>
        tx.upsertMerchant({ customerId: merchantId, name: 'S', allowedOrigins: [], createdAt: now }),
      );
      const endpointId = unique('whe');
      await store.transaction((tx) =>
        tx.insertWebhookEndpoint({
          id: endpointId,
          merchantId,
          url: 'http://hook.test',
          enabled: true,
          createdAt: now,
        }),
      );
      const row = (accountCode: string, seq: number) => ({
        id: unique('dlv'),
        endpointId,
        eventId: unique('evt'),
        accountCode,
        seq,
        attemptCount: 0,
        nextAttemptAt: now,
        deliveredAt: null,
        lastError: null,
      });
      /** 'parked', or when the delivery is due. */
      const dueAt = async (id: string) => {
        const record = await store.read((reader) => reader.getOutbox(id));
        return record?.parked ? 'parked' : record?.nextAttemptAt;
      };
      const firstThree = (accountCode: string) =>
        [row(accountCode, 1), row(accountCode, 2), row(accountCode, 3)] as const;
      return { row, dueAt, firstThree };
    }

    it('parks deliveries behind an unfinished one and makes the next due when it is finished', async () => {
      const { row, dueAt, firstThree } = await outboxFixture();
      const code = unique('ta');
      const [first, second, third] = firstThree(code);
      const fourth = row(code, 4);
      const elsewhere = row(unique('ta'), 1);
      await store.transaction((tx) => tx.insertOutbox([first, second, third, elsewhere]));
      await store.transaction((tx) => tx.insertOutbox([fourth]));
      expect(await Promise.all([first, second, third, fourth, elsewhere].map((r) => dueAt(r.id)))).toEqual([
        now,
        'parked',
        'parked',
        'parked',
        now,
      ]);
      const t1 = '2026-11-24T10:00:01.000Z';
      const lease = '2026-11-24T10:05:00.000Z';
      const claimed = await store.transaction((tx) => tx.claimDueOutbox(t1, lease, 100));
      expect(claimed.filter((r) => r.accountCode === code).map((r) => r.seq)).toEqual([1]);
      // Delivered: the next one is due at that moment, the rest stay parked.
      await store.transaction((tx) => tx.markOutboxDelivered(first.id, t1, lease));
      expect(await Promise.all([second, third, fourth].map((r) => dueAt(r.id)))).toEqual([
        t1,
        'parked',
        'parked',
      ]);
      // A failed attempt backs off; what is behind it stays parked.
      const t2 = '2026-11-24T10:00:02.000Z';
      expect((await store.transaction((tx) => tx.claimDueOutbox(t2, lease, 100))).map((r) => r.id)).toContain(
        second.id,
      );
      await store.transaction((tx) =>
        tx.markOutboxFailed(second.id, 'HTTP 500', '2026-11-24T10:01:00.000Z', lease),
      );
      expect(await dueAt(third.id)).toBe('parked');
      // Given up: the next one is due, and then delivered in order.
      await store.transaction((tx) => tx.markOutboxGivenUp(second.id, t2, 'HTTP 410'));
      expect(await dueAt(third.id)).toBe(t2);
      const next = await store.transaction((tx) => tx.claimDueOutbox(t2, lease, 100));
      expect(next.filter((r) => r.accountCode === code).map((r) => r.seq)).toEqual([3]);
      // Nothing parked is left without an unfinished delivery before it.
      expect(await store.transaction((tx) => tx.unparkOutbox(t2))).toBe(0);
      expect(await dueAt(fourth.id)).toBe('parked');
    });

    it.runIf(options.olderRelease)(
      'an older release still delivers parked deliveries in order, and this one keeps its leases and picks up after it',
      async () => {
        const older = options.olderRelease as NonNullable<ContractOptions['olderRelease']>;
        const { dueAt, firstThree } = await outboxFixture();
        const [first, second, third] = firstThree(unique('ta'));
        await store.transaction((tx) => tx.insertOutbox([first, second, third]));
        const t1 = '2026-11-24T10:00:01.000Z';
        const mine = async (ids: Promise<string[]>) =>
          (await ids).filter((id) => [first.id, second.id, third.id].includes(id));
        // After a rollback, or beside this release: the older one knows nothing of parking and
        // keeps the order.
        expect(await mine(older.claim(t1, '2026-11-24T10:00:02.000Z'))).toEqual([first.id]);
        await older.finish(first.id, t1);
        const leaseUntil = '2026-11-24T10:00:04.000Z';
        expect(await mine(older.claim('2026-11-24T10:00:03.000Z', leaseUntil))).toEqual([second.id]);
        // This release's sweep unparks what the older one took, but keeps its lease: no second
        // copy goes out while the older process's is in flight.
        const t3 = '2026-11-24T10:00:03.500Z';
        expect(await store.transaction((tx) => tx.unparkOutbox(t3))).toBe(1);
        expect(await dueAt(second.id)).toBe(leaseUntil);
        expect(
          await mine(
            store.transaction(async (tx) => (await tx.claimDueOutbox(t3, t3, 100)).map((r) => r.id)),
          ),
        ).toEqual([]);
        await older.finish(second.id, t3);
        // What the older one finished unparked nothing; the sweep does.
        expect(await dueAt(third.id)).toBe('parked');
        expect(await store.transaction((tx) => tx.unparkOutbox(t3))).toBe(1);
        const claimed = await store.transaction((tx) =>
          tx.claimDueOutbox(t3, '2026-11-24T10:05:00.000Z', 100),
        );
        expect(claimed.map((row) => row.id).filter((id) => id === third.id)).toEqual([third.id]);
      },
    );

    it.runIf(options.olderRelease)(
      'parks what an older release queued behind an unfinished delivery',
      async () => {
        const older = options.olderRelease as NonNullable<ContractOptions['olderRelease']>;
        const { dueAt, firstThree } = await outboxFixture();
        const [first, second] = firstThree(unique('ta'));
        await store.transaction((tx) => tx.insertOutbox([first]));
        await older.insert(second);
        expect(await dueAt(second.id)).toBe(second.nextAttemptAt);
        // The sweep parks it (a claim walks it no more) and unparks nothing.
        expect(await store.transaction((tx) => tx.unparkOutbox(now))).toBe(0);
        expect(await dueAt(second.id)).toBe('parked');
        await store.transaction((tx) => tx.markOutboxDelivered(first.id, '2026-11-24T10:00:01.000Z'));
        expect(await dueAt(second.id)).toBe('2026-11-24T10:00:01.000Z');
      },
    );

    it('never strands a delivery queued by a command while the one before it is finished', async () => {
      // A command queues deliveries holding its account's lock; finishing a delivery takes it
      // too. Racing the two many times, the new delivery always ends up due.
      const { row, dueAt } = await outboxFixture();
      const parties = await store.transaction(async (tx) => [await customer(tx), await customer(tx)]);
      for (let round = 0; round < 40; round++) {
        const code = unique('ta');
        await store.transaction((tx) => tx.insertTemporaryAccount(account(code, parties)));
        const head = row(code, 1);
        const behind = row(code, 2);
        await store.transaction((tx) => tx.insertOutbox([head]));
        const lease = '2026-11-24T10:05:00.000Z';
        await store.transaction((tx) => tx.claimDueOutbox('2026-11-24T10:00:01.000Z', lease, 1_000));
        await Promise.all([
          store.transaction(async (tx) => {
            tx.prefetchAccount?.(code);
            await tx.getTemporaryAccount(code);
            await tx.insertOutbox([behind]);
          }),
          store.transaction((tx) => tx.markOutboxDelivered(head.id, '2026-11-24T10:00:02.000Z', lease)),
        ]);
        expect(await dueAt(behind.id)).not.toBe('parked');
      }
    });

    it('rolls back only the unit of work that fails, while concurrent units commit', async () => {
      const target = await fundedUsual(0);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, index) =>
          store.transaction(async (tx) => {
            await tx.postJournal({
              id: unique('jrn'),
              kind: 'top_up',
              reference: null,
              at: now,
              transfers: [
                {
                  from: 'external:JPY',
                  to: `usual:${target.id}`,
                  amountMinor: 10,
                  currency: 'JPY',
                  purpose: 'top_up',
                },
              ],
            });
            if (index % 4 === 0) throw new Error('this unit fails after writing');
          }),
        ),
      );
      expect(results.filter((result) => result.status === 'rejected')).toHaveLength(5);
      expect((await store.read((reader) => reader.getUsualAccount(target.id)))?.balanceMinor).toBe(150);
    });

    it('lands 100 concurrent transactions', async () => {
      const target = await fundedUsual(0);
      await Promise.all(
        Array.from({ length: 100 }, () =>
          store.transaction((tx) =>
            tx.postJournal({
              id: unique('jrn'),
              kind: 'top_up',
              reference: null,
              at: now,
              transfers: [
                {
                  from: 'external:JPY',
                  to: `usual:${target.id}`,
                  amountMinor: 1,
                  currency: 'JPY',
                  purpose: 'top_up',
                },
              ],
            }),
          ),
        ),
      );
      expect((await store.read((reader) => reader.getUsualAccount(target.id)))?.balanceMinor).toBe(100);
    });
  });
}
