import { parseArgs } from 'node:util';
import { isCurrencyCode } from '@lockstep/core';
import { ConfigError, loadConfig } from './config.ts';
import type { Gateway } from './gateway.ts';
import { randomToken } from './ids.ts';
import { openGateway } from './main.ts';
import { seedDemo } from './seed.ts';
import { Admin } from './service/admin.ts';
import { KeySealingError } from './service/keys.ts';

/**
 * The bank operator's CLI: `pnpm lockstep-admin <command> [--options]`. It opens the same store
 * the gateway uses (the SQLite file or DATABASE_URL), so run it beside a stopped gateway on
 * SQLite, or any time on PostgreSQL.
 */
const usage = `Usage: pnpm lockstep-admin <command> [options]
  customer:create --user-id <id> --name <display name> --password <password>
  account:create  --customer <cus_...> --currency JPY [--name "Ordinary deposit"]
  merchant:create --customer <cus_...> --name <shop name> --origin <https://shop.example> [--origin ...]
  key:create      --merchant <cus_...> --kind secret|publishable
  key:list        --merchant <cus_...>
  key:revoke      --merchant <cus_...> --key <key_...>
  top-up          --account <acc_...> --amount-minor <integer> [--reference <slip id>]
  dispute:resolve --account <ta_...> --for buyer|seller [--reason <text>]
  keys:rotate
  reconcile
  seed-demo       [--origin http://localhost:3000]`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      'user-id': { type: 'string' },
      reference: { type: 'string' },
      name: { type: 'string' },
      password: { type: 'string' },
      customer: { type: 'string' },
      currency: { type: 'string' },
      merchant: { type: 'string' },
      origin: { type: 'string', multiple: true },
      kind: { type: 'string' },
      key: { type: 'string' },
      account: { type: 'string' },
      'amount-minor': { type: 'string' },
      for: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  if (!command || command === 'help' || command === '--help') {
    console.log(usage);
    return command ? 0 : 2;
  }
  let gateway: Gateway;
  try {
    // An operator's command: no webhook deliveries and no upkeep from this short-lived process.
    gateway = await openGateway(loadConfig(), { webhooks: false, housekeeping: false, deadlines: false });
  } catch (error) {
    if (!(error instanceof KeySealingError || error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 2;
  }
  const admin = new Admin(gateway.bank);
  const need = (name: keyof typeof values): string => {
    const value = values[name];
    if (typeof value !== 'string' || value === '') throw new Error(`--${name} is required.\n${usage}`);
    return value;
  };
  try {
    switch (command) {
      case 'customer:create': {
        const customer = await admin.createCustomer({
          userId: need('user-id'),
          displayName: need('name'),
          password: need('password'),
        });
        print({ id: customer.id, userId: customer.userId });
        break;
      }
      case 'account:create': {
        const currency = need('currency');
        if (!isCurrencyCode(currency)) throw new Error(`Unknown currency ${currency}.`);
        print(await admin.createUsualAccount(need('customer'), currency, values.name));
        break;
      }
      case 'merchant:create':
        print(
          await admin.createMerchant(need('customer'), {
            name: need('name'),
            allowedOrigins: values.origin ?? [],
          }),
        );
        console.error('Store these keys now: they are shown once and kept only as hashes.');
        break;
      case 'key:create': {
        const kind = need('kind');
        if (kind !== 'secret' && kind !== 'publishable') throw new Error('--kind is secret or publishable.');
        const { key, record } = await admin.createApiKey(need('merchant'), kind);
        print({ id: record.id, key });
        break;
      }
      case 'key:list':
        print(await admin.listApiKeys(need('merchant')));
        break;
      case 'key:revoke':
        print({ revoked: await admin.revokeApiKey(need('merchant'), need('key')) });
        break;
      case 'top-up': {
        const amount = Number(need('amount-minor'));
        const reference = values.reference ?? `topup_${randomToken(16)}`;
        try {
          print({ ok: true, ...(await admin.topUp(need('account'), amount, reference)) });
        } catch (error) {
          console.error(
            `Top-up ${reference} failed; if the outcome is unknown, run it again with --reference ${reference}.`,
          );
          throw error;
        }
        break;
      }
      case 'dispute:resolve': {
        const account = await admin.resolveDispute(need('account'), need('for'), values.reason);
        print({ code: account.code, dispute: account.dispute, parties: account.parties });
        break;
      }
      case 'keys:rotate':
        print({ kid: (await gateway.keys.rotate()).kid });
        break;
      case 'reconcile': {
        const report = await admin.reconcile();
        print(report);
        return report.balanced ? 0 : 1;
      }
      case 'seed-demo':
        print(await seedDemo(admin, { allowedOrigins: values.origin ?? ['http://localhost:3000'] }));
        break;
      default:
        console.error(`Unknown command "${command}".\n${usage}`);
        return 2;
    }
    return 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  } finally {
    await gateway.close();
  }
}

function print(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

process.exitCode = await main(process.argv.slice(2));
