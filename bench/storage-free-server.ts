import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { noCommission, type TemporaryAccount } from '@lockstep/core';
import { createGateway } from '../packages/gateway/src/gateway.ts';
import { seedDemo } from '../packages/gateway/src/seed.ts';
import { Admin } from '../packages/gateway/src/service/admin.ts';
import { openSqliteStore } from '../packages/gateway/src/storage/sqlite.ts';
import type { IdempotencyRecord, Store, StoreTx } from '../packages/gateway/src/storage/store.ts';

/**
 * Lock/unlock with free storage (`pnpm bench` reports it beside the commands): the gateway's own
 * app (routing, authentication, validation, idempotency, the domain, the answer), served as
 * `pnpm gateway` serves it, with the commands' write transactions run against memory. The
 * account is kept as JSON text (parsed on read and written as text, as the real stores do),
 * events get ids, the latest 10,000 answers are kept by idempotency key; nothing goes to disk.
 * Everything else (seeding, sessions, keys, reads) is the real embedded store. A store call the
 * lock path does not make throws, so this cannot quietly measure less work than a real command.
 *
 * What it shows: how much of a command's cost is storage, and the most any store design could
 * give the commands. Answers are written together once per event-loop turn, as the real store's
 * group commit writes a batch's answers, so both pay the same for waking the client.
 * Prints one JSON line: the port, the secret key and the accounts the load toggles.
 */
const store = await openSqliteStore({
  path: path.join(mkdtempSync(path.join(tmpdir(), 'lockstep-storage-free-')), 'lockstep.sqlite'),
});
const gateway = await createGateway({
  store,
  publicUrl: 'http://localhost:4000',
  // Lock and unlock move no money: no fee applies.
  commission: noCommission,
  logLevel: 'silent',
  webhooks: false,
  housekeeping: false,
});
const seed = await seedDemo(new Admin(gateway.bank), {
  allowedOrigins: ['http://localhost:3000'],
  buyerBalanceMinor: 10 ** 12,
});
const call = async (pathname: string, token: string, body: unknown) => {
  const response = await gateway.app.request(pathname, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
  return (await response.json()) as Record<string, string>;
};
const session = await call('/v1/sessions', '', { userId: 'mizuta', password: 'mizuta-demo-pass' });
const accounts: string[] = [];
for (let index = 0; index < 200; index++) {
  const created = await call('/v1/temporary-accounts', session.token as string, {
    payeeUserId: 'ibm-shop',
    amountMinor: 1_000_000,
    currency: 'JPY',
  });
  accounts.push(created.code as string);
}

const states = new Map<string, string>();
for (const code of accounts) {
  states.set(code, JSON.stringify(await store.read((reader) => reader.getTemporaryAccount(code))));
}
const answers = new Map<string, IdempotencyRecord>();
let eventCount = 0;
const memory: Partial<StoreTx> = {
  prefetchAccount() {},
  prefetchUsualAccounts() {},
  getIdempotency: async (scope, key) => answers.get(`${scope}\n${key}`) ?? null,
  putIdempotency: async (record) => {
    // The latest answers only: a heap growing by every answer would slow the load by GC alone.
    if (answers.size >= 10_000) answers.delete(answers.keys().next().value as string);
    answers.set(`${record.scope}\n${record.key}`, record);
  },
  getTemporaryAccount: async (code) => {
    const text = states.get(code);
    return text === undefined ? null : (JSON.parse(text) as TemporaryAccount);
  },
  updateTemporaryAccount: async (account) => {
    states.set(account.code, JSON.stringify(account));
  },
  appendEvents: async (events) =>
    events.map((event) => {
      JSON.stringify(event.data);
      return { ...event, id: `evt_free${eventCount++}` };
    }),
  listWebhookEndpointsOf: async () => [],
  getCustomer: (id) => store.read((reader) => reader.getCustomer(id)),
};
const tx = new Proxy(memory, {
  get(target, property) {
    const value = Reflect.get(target, property);
    if (value === undefined) throw new Error(`The storage-free store has no ${String(property)}.`);
    return value;
  },
}) as StoreTx;
const free: Store = Object.assign(Object.create(store) as Store, {
  transaction: <T>(work: (unit: StoreTx) => Promise<T>) => work(tx),
});
(gateway as { store: Store }).store = free;
(gateway.bank as { store: Store }).store = free;

/**
 * Answers leave together at the end of each event-loop turn, as a group commit's batch does
 * (the real store answers a batch once its commit is on disk). Written one by one, each answer
 * would wake the load generator on its own: on this machine that alone cost 30% of the
 * throughput (7.1k against 10.2k req/s), and the case measured the wake-ups, not the storage.
 */
let turnEnd: Promise<void> | undefined;
const endOfTurn = () => {
  turnEnd ??= new Promise((resolve) =>
    setImmediate(() => {
      turnEnd = undefined;
      resolve();
    }),
  );
  return turnEnd;
};
const fetchTogether: typeof gateway.app.fetch = async (request, env, context) => {
  const response = await gateway.app.fetch(request, env, context);
  await endOfTurn();
  return response;
};
const server = serve({ fetch: fetchTogether, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ port: info.port, secretKey: seed.secretKey, accounts }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
