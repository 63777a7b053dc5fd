import path from 'node:path';
import { type CommissionSchedule, currencies, type DeadlinePolicy, validateFeeRule } from '@lockstep/core';
import { z } from 'zod';
import { normalizeOrigins } from './service/admin.ts';

/**
 * Configuration comes from environment variables, validated once at start. A bad value stops
 * the gateway with a message naming the variable — never a silent default.
 */
const FeeRule = z
  .object({ flatMinor: z.number().int().min(0), basisPoints: z.number().int().min(0).max(10_000) })
  .strict()
  .refine(validateFeeRule, 'flatMinor must be a safe integer');

const Commission = z
  .object({
    creation: z.partialRecord(z.enum(Object.keys(currencies) as [keyof typeof currencies]), FeeRule),
    withdrawal: z.partialRecord(z.enum(Object.keys(currencies) as [keyof typeof currencies]), FeeRule),
  })
  .strict();

/** 32 random bytes, base64url (`node -e "console.log(crypto.randomBytes(32).toString('base64url'))"`). */
const keyEncryptionKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 random bytes, base64url-encoded (43 characters)')
  .transform((text) => new Uint8Array(Buffer.from(text, 'base64url')))
  .optional();

/**
 * A whole number from the environment, or the default when the variable is unset. Written
 * digits only: `z.coerce` read an empty value as 0 (PORT= was a random port, a grace of 0 ms:
 * helper-43's review).
 */
const whole = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be a whole number (digits only)')
    .optional()
    .transform((text) => (text === undefined ? fallback : Number(text)))
    .pipe(z.number().int().min(min).max(max));

const Environment = z.object({
  PORT: whole(0, 65_535, 4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LOCKSTEP_DATA_DIR: z.string().min(1).default('.data/gateway'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgres:// URL')
    .optional(),
  // The bank's pages and links live there: http(s) only (javascript: had the origin "null").
  LOCKSTEP_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  LOCKSTEP_COMMISSION: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return undefined;
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        context.addIssue({ code: 'custom', message: `not JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
      const schedule = Commission.safeParse(json);
      if (schedule.success) return schedule.data;
      // The first mistake, where it is, on one line (helper-105: zod's whole issue list as JSON).
      const [issue] = schedule.error.issues;
      context.addIssue({
        code: 'custom',
        message: `not a valid commission schedule: ${issue?.path.join('.') || '(top)'}: ${issue?.message}`,
      });
      return z.NEVER;
    }),
  // Connections each gateway process keeps to PostgreSQL (docs/postgres.md: N processes x this
  // must stay under the server's max_connections).
  LOCKSTEP_PG_POOL_SIZE: whole(1, 1_000, 10),
  // How long a unit of work waits for PostgreSQL's next answer before the connection is cut
  // and the request answered 503 (storage/postgres.ts answerTimeoutMs).
  // At least 4 s: the lock-wait limit (a quarter) stays above PostgreSQL's deadlock_timeout.
  LOCKSTEP_PG_ANSWER_TIMEOUT_MS: whole(4_000, 600_000, 20_000),
  LOCKSTEP_SEED_DEMO: z.enum(['0', '1', 'true', 'false']).optional(),
  // The demo seed (LOCKSTEP_SEED_DEMO): the shop origins its keys allow, the buyer's balance.
  LOCKSTEP_DEMO_ORIGINS: z
    .string()
    .optional()
    .transform((text) =>
      (text ?? 'http://localhost:3000')
        .split(',')
        .map((origin) => origin.trim())
        .filter(Boolean),
    )
    // The check merchant:create applies (helper-55's review: paths, wildcards and credentials
    // passed here, then stopped the start with a stack trace).
    .transform((origins, context) => {
      try {
        return normalizeOrigins(origins);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  LOCKSTEP_DEMO_BUYER_BALANCE_MINOR: z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number of minor units (digits only)')
    .optional()
    .transform((text) => (text === undefined ? 100_000 : Number(text)))
    .pipe(z.number().int().min(1, 'must be at least 1').max(Number.MAX_SAFE_INTEGER)),
  LOCKSTEP_ALLOW_PRIVATE_WEBHOOKS: z.enum(['0', '1', 'true', 'false']).optional(),
  LOCKSTEP_KEY_ENCRYPTION_KEY: keyEncryptionKey,
  LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY: keyEncryptionKey,
  LOCKSTEP_SQLITE_SYNC: z.enum(['async', 'full']).default('async'),
  LOCKSTEP_SQLITE_CHECKPOINT: z.enum(['worker', 'inline']).default('worker'),
  LOCKSTEP_TRUSTED_PROXY_HOPS: whole(0, 10, 0),
  LOCKSTEP_SHUTDOWN_GRACE_MS: whole(0, 60_000, 10_000),
  // Before the drain, /healthz says 503 for this long while requests are served as usual, so a
  // load balancer stops sending new connections first (0: drain at once).
  LOCKSTEP_SHUTDOWN_DELAY_MS: whole(0, 120_000, 0),
  // At least a day: a client's retries of a lost answer must find it.
  LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS: whole(24, 8_760, 168),
  // A deal's deadlines (@lockstep/core deadlines.ts): to ship after the seller's lock, and for
  // the buyer's verdict after shipping. At least a day, at most a year.
  LOCKSTEP_SHIP_WITHIN_HOURS: whole(24, 8_760, 336),
  LOCKSTEP_VERDICT_WITHIN_HOURS: whole(24, 8_760, 336),
  LOCKSTEP_PAY_WITHIN_HOURS: whole(24, 8_760, 168),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** The demo bank's schedule: ¥100 to open a temporary account, 1% of what the seller takes. */
export const demoCommission: CommissionSchedule = {
  creation: { JPY: { flatMinor: 100, basisPoints: 0 }, USD: { flatMinor: 50, basisPoints: 0 } },
  withdrawal: { JPY: { flatMinor: 0, basisPoints: 100 }, USD: { flatMinor: 0, basisPoints: 100 } },
};

export interface GatewayConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Embedded store: the store syncs the WAL off the event loop (`async`), or SQLite does (`full`). */
  sqliteSync: 'async' | 'full';
  /** Who copies the WAL into the database file: a worker thread (default) or SQLite in COMMIT. */
  sqliteCheckpoint: 'worker' | 'inline';
  databaseUrl: string | undefined;
  publicUrl: string;
  /** LOCKSTEP_PUBLIC_URL was set (the gateway requires it on PostgreSQL). */
  publicUrlGiven: boolean;
  commission: CommissionSchedule;
  /** Whether LOCKSTEP_COMMISSION set it (unset: the demo bank's, which the start warns of). */
  commissionGiven: boolean;
  seedDemo: boolean;
  /** The demo seed's shop origins and the demo buyer's balance (minor units, JPY). */
  demo: { origins: string[]; buyerBalanceMinor: number };
  /** PostgreSQL connections per gateway process. */
  pgPoolSize: number;
  /** How long a unit waits for PostgreSQL's next answer. */
  pgAnswerTimeoutMs: number;
  /** Webhook URLs may point at loopback or private addresses (local development only). */
  allowPrivateWebhooks: boolean;
  shutdownGraceMs: number;
  /** The pre-stop delay: /healthz 503, everything else served, before the drain. */
  shutdownDelayMs: number;
  /** Reverse proxies that append the client to X-Forwarded-For (http/client-source.ts). */
  trustedProxyHops: number;
  /** How long an answer stays stored for retries with its Idempotency-Key (default 7 days). */
  idempotencyRetentionMs: number;
  deadlinePolicy: DeadlinePolicy;
  logLevel: string;
  /** Seals the private signing keys in the store (service/keys.ts); unset: stored in the clear. */
  keyEncryptionKey: Uint8Array | undefined;
  /** The key-encryption key being replaced: what it sealed is sealed again with the new one. */
  previousKeyEncryptionKey: Uint8Array | undefined;
}

export class ConfigError extends Error {}

/**
 * A `LOCKSTEP_` name one or two letters away from a setting is a mistyped setting: the gateway
 * would start without it, silently (helper-105: `LOCKSTEP_COMISSION` charged the demo bank's
 * fees). Names further off belong to something else (the shop's `LOCKSTEP_SECRET_KEY`, tests').
 */
function mistypedSetting(env: NodeJS.ProcessEnv): string | undefined {
  const settings = Object.keys(Environment.shape).filter((name) => name.startsWith('LOCKSTEP_'));
  for (const name of Object.keys(env)) {
    if (!name.startsWith('LOCKSTEP_') || settings.includes(name)) continue;
    const meant = settings.find((setting) => editDistance(name, setting) <= 2);
    if (meant) return `  ${name}: not a setting; did you mean ${meant}?`;
  }
  return undefined;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const mistyped = mistypedSetting(env);
  if (mistyped) throw new ConfigError(`Invalid configuration:\n${mistyped}`);
  const parsed = Environment.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const value = parsed.data;
  if (value.LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY && !value.LOCKSTEP_KEY_ENCRYPTION_KEY) {
    throw new ConfigError(
      'Invalid configuration:\n  LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY: needs LOCKSTEP_KEY_ENCRYPTION_KEY (the key replacing it)',
    );
  }
  return {
    port: value.PORT,
    host: value.HOST,
    dataDir: path.resolve(value.LOCKSTEP_DATA_DIR),
    sqliteSync: value.LOCKSTEP_SQLITE_SYNC,
    sqliteCheckpoint: value.LOCKSTEP_SQLITE_CHECKPOINT,
    databaseUrl: value.DATABASE_URL,
    publicUrl: (value.LOCKSTEP_PUBLIC_URL ?? `http://localhost:${value.PORT}`).replace(/\/$/, ''),
    publicUrlGiven: value.LOCKSTEP_PUBLIC_URL !== undefined,
    commission: value.LOCKSTEP_COMMISSION ?? demoCommission,
    commissionGiven: value.LOCKSTEP_COMMISSION !== undefined,
    seedDemo: value.LOCKSTEP_SEED_DEMO === '1' || value.LOCKSTEP_SEED_DEMO === 'true',
    demo: {
      origins: value.LOCKSTEP_DEMO_ORIGINS,
      buyerBalanceMinor: value.LOCKSTEP_DEMO_BUYER_BALANCE_MINOR,
    },
    pgPoolSize: value.LOCKSTEP_PG_POOL_SIZE,
    pgAnswerTimeoutMs: value.LOCKSTEP_PG_ANSWER_TIMEOUT_MS,
    allowPrivateWebhooks:
      value.LOCKSTEP_ALLOW_PRIVATE_WEBHOOKS === '1' || value.LOCKSTEP_ALLOW_PRIVATE_WEBHOOKS === 'true',
    shutdownGraceMs: value.LOCKSTEP_SHUTDOWN_GRACE_MS,
    shutdownDelayMs: value.LOCKSTEP_SHUTDOWN_DELAY_MS,
    trustedProxyHops: value.LOCKSTEP_TRUSTED_PROXY_HOPS,
    idempotencyRetentionMs: value.LOCKSTEP_IDEMPOTENCY_RETENTION_HOURS * 3_600_000,
    deadlinePolicy: {
      shipWithinMs: value.LOCKSTEP_SHIP_WITHIN_HOURS * 3_600_000,
      verdictWithinMs: value.LOCKSTEP_VERDICT_WITHIN_HOURS * 3_600_000,
      payWithinMs: value.LOCKSTEP_PAY_WITHIN_HOURS * 3_600_000,
    },
    logLevel: value.LOG_LEVEL,
    keyEncryptionKey: value.LOCKSTEP_KEY_ENCRYPTION_KEY,
    previousKeyEncryptionKey: value.LOCKSTEP_PREVIOUS_KEY_ENCRYPTION_KEY,
  };
}
