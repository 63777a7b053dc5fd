import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { LockstepError } from '@lockstep/core';
import { constantTimeEqual, newId, randomToken, sha256Hex } from '../ids.ts';
import type {
  ApiKeyRecord,
  CustomerRecord,
  SessionRecord,
  Store,
  StoreReader,
  StoreTx,
} from '../storage/store.ts';
import type { Principal } from './bank.ts';
import {
  type LoginLimits,
  loginLocked,
  SourceThrottle,
  storedCounts,
  unknownSubject,
} from './login-guard.ts';

const scrypt = promisify(scryptCallback) as (
  password: string,
  salt: Buffer,
  keyLength: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/**
 * Passwords are hashed with scrypt at OWASP's recommended N=2^15, r=8, p=3 (32 MiB, about 90 ms
 * per hash), stored as `scrypt$N$r$p$salt$hash` so parameters can rise later without breaking
 * old hashes; `maxmem` leaves room to verify hashes up to N=2^17.
 */
const scryptParameters = { N: 2 ** 15, r: 8, p: 3, maxmem: 256 * 1024 * 1024 };
const scryptKeyBytes = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password.normalize('NFKC'), salt, scryptKeyBytes, scryptParameters);
  const { N, r, p } = scryptParameters;
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password.normalize('NFKC'), Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: scryptParameters.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A hash of a password nobody has, verified when the user ID does not exist so that an unknown
 * user ID costs the same time as a wrong password and the answer reveals nothing.
 */
let decoyHash: Promise<string> | undefined;
function decoy(): Promise<string> {
  decoyHash ??= hashPassword(randomToken(24));
  return decoyHash;
}

export interface LoginPolicy {
  /** Failed logins in a row from one client source before the login locks for that source. */
  failuresBeforeLock: number;
  /** Failed logins in a row from all sources before the login locks for everyone (default 20). */
  failuresBeforeAccountLock?: number;
  /** Failed logins one source may make over all user IDs per `lockMs` (default 30). */
  sourceFailuresPerWindow?: number;
  /** How long a source the customer logged in from escapes the account-wide lock (90 days). */
  knownSourceMs?: number;
  lockMs: number;
  sessionTtlMs: number;
  /** Logins hashing a password at once (default 2 of Node's 4 pool threads: see `HashingGate`). */
  hashingSlots?: number;
  /** Logins waiting for a slot; one more is refused at once with `rate_limited` (default 32). */
  hashingQueueMax?: number;
}

/**
 * Password checks take turns. scrypt runs on Node's thread pool (4 threads), which the embedded
 * store's disk syncs use too: unbounded, a flood of logins (a wrong password or an unknown user
 * ID costs the same ~90 ms hash) queued every commit behind hashes, and commands' median went
 * from 4 ms to 2.3 s under 32 concurrent logins (helper-32). At most `slots` hash at once, at
 * most `queueMax` wait; a login beyond is refused at once, before anything is read or counted.
 */
class HashingGate {
  private readonly slots: number;
  private readonly queueMax: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(slots: number, queueMax: number) {
    this.slots = Math.max(1, Math.trunc(slots));
    this.queueMax = Math.max(0, Math.trunc(queueMax));
  }

  /**
   * Takes a place in line, or throws `rate_limited` when the line is full. The promise gives a
   * release once a slot is free; it must be called exactly once however the login ends.
   */
  admit(): Promise<() => void> {
    if (this.running < this.slots) {
      this.running++;
      return Promise.resolve(this.release());
    }
    this.refuseIfFull();
    return new Promise((resolve) => this.waiting.push(() => resolve(this.release())));
  }

  /** Throws `rate_limited` when the line is full, taking no place (see `Auth.login`). */
  refuseIfFull(): void {
    if (this.running >= this.slots && this.waiting.length >= this.queueMax) {
      throw new LockstepError('rate_limited', 'Too many logins at once; try again in a moment.', {
        retryAfterSeconds: 1,
      });
    }
  }

  private release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }
}

export const defaultLoginPolicy: LoginPolicy = {
  failuresBeforeLock: 5,
  lockMs: 15 * 60 * 1000,
  sessionTtlMs: 12 * 60 * 60 * 1000,
};

export interface IssuedSession {
  token: string;
  csrfToken: string;
  expiresAt: string;
  customer: CustomerRecord;
}

/** Session tokens: `cs_` + 256 random bits; only their SHA-256 is stored. */
export class Auth {
  private readonly store: Store;
  private readonly policy: LoginPolicy;
  private readonly clock: () => Date;
  /**
   * Key lookups cached by key hash for a short time: one hash per request at most. A revocation
   * through any process empties it (`Store.onKeyRevoked`); the expiry bounds a missed notice.
   */
  private readonly keyCache = new Map<
    string,
    { record: ApiKeyRecord; cachedAtMs: number; foreignCommits: number | undefined }
  >();
  private readonly keyCacheTtlMs: number;
  /** Counts revocations: a lookup that began before one does not refill the cache after it. */
  private keyRevocations = 0;
  private readonly sessionCache = new Map<string, { record: SessionRecord; cachedAtMs: number }>();
  private readonly sources: SourceThrottle;
  private readonly limits: LoginLimits;
  private readonly hashing: HashingGate;

  constructor(
    store: Store,
    options: { policy?: LoginPolicy; now?: () => Date; keyCacheTtlMs?: number } = {},
  ) {
    this.store = store;
    this.policy = options.policy ?? defaultLoginPolicy;
    this.hashing = new HashingGate(this.policy.hashingSlots ?? 2, this.policy.hashingQueueMax ?? 32);
    this.limits = {
      failuresBeforeLock: this.policy.failuresBeforeLock,
      failuresBeforeAccountLock: this.policy.failuresBeforeAccountLock ?? 20,
      sourceFailuresPerWindow: this.policy.sourceFailuresPerWindow ?? 30,
      lockMs: this.policy.lockMs,
      knownSourceMs: this.policy.knownSourceMs ?? 90 * 24 * 60 * 60 * 1000,
    };
    this.sources = new SourceThrottle(store, this.limits.sourceFailuresPerWindow, this.limits.lockMs);
    this.clock = options.now ?? (() => new Date());
    this.keyCacheTtlMs = options.keyCacheTtlMs ?? 5_000;
    store.onKeyRevoked(() => {
      this.keyRevocations++;
      this.keyCache.clear();
    });
  }

  /**
   * Logs a customer in (Drawing 6) from a client `source` (its address, see
   * http/client-source.ts). Wrong user ID and wrong password give the same error and take the
   * same time. Failures lock the login for that source, for everyone after many more, and slow
   * the source down over all user IDs (login-guard.ts); each failure also waits a little
   * longer than the last.
   */
  async login(userId: string, password: string, source = 'unknown'): Promise<IssuedSession> {
    // A full line refuses at once, costing the store nothing (a flood of logins writes nothing).
    this.hashing.refuseIfFull();
    // Counted against the source before anything else (refused when it used up its failures),
    // given back unless a password check fails.
    const giveBack = await this.sources.admit(source, this.clock());
    let wrong = false;
    try {
      return await this.loginInLine(userId, password, source);
    } catch (error) {
      wrong = error instanceof LockstepError && error.code === 'invalid_credentials';
      throw error;
    } finally {
      if (!wrong) await giveBack();
    }
  }

  private async loginInLine(userId: string, password: string, source: string): Promise<IssuedSession> {
    // In line for a password check before anything is read or counted (throws when full).
    const admitted = this.hashing.admit();
    let release: (() => void) | undefined;
    const check = async (stored: string) => {
      release = await admitted;
      try {
        return await verifyPassword(password, stored);
      } finally {
        release();
      }
    };
    try {
      return await this.loginChecked(userId, source, check);
    } finally {
      // Ended before its check (locked, say): give the place back once it comes.
      if (!release) void admitted.then((done) => done());
    }
  }

  private async loginChecked(
    userId: string,
    source: string,
    check: (stored: string) => Promise<boolean>,
  ): Promise<IssuedSession> {
    const now = this.clock();
    const nowIso = now.toISOString();
    const customer = await this.store.lookup((reader) => reader.getCustomerByUserId(userId));
    // An unknown user ID is counted and locked like a known one, and hashed against a decoy,
    // so neither timing nor the locks tell whether the ID exists.
    const counts = customer
      ? storedCounts(this.store, customer.id, source, this.limits.lockMs)
      : storedCounts(this.store, unknownSubject(userId), source, this.limits.lockMs);
    // Counted before the password is checked, atomically: a burst of parallel guesses gets at
    // most `failuresBeforeLock` passwords checked per source and lock period.
    const reserved = await counts.reserve(nowIso);
    const { failuresBeforeLock, failuresBeforeAccountLock, lockMs } = this.limits;
    const lockUntil = new Date(now.getTime() + lockMs).toISOString();
    const over = {
      source: reserved.fromSource > failuresBeforeLock,
      overall: reserved.overall > failuresBeforeAccountLock,
    };
    if (over.source || over.overall) {
      await counts.lock(over, lockUntil);
      throw loginLocked(lockUntil, now.getTime());
    }
    const valid = await check(customer?.passwordHash ?? (await decoy()));
    if (!valid || !customer) {
      const due = {
        source: reserved.fromSource >= failuresBeforeLock,
        overall: reserved.overall >= failuresBeforeAccountLock,
      };
      if (due.source || due.overall) await counts.lock(due, lockUntil);
      // Slow down repeated guesses: 100 ms, 200 ms, 400 ms ... per failure in a row.
      await delay(Math.min(100 * 2 ** (reserved.fromSource - 1), 2_000));
      throw invalidCredentials();
    }
    const token = `cs_${randomToken(32)}`;
    const csrfToken = randomToken(24);
    const expiresAt = new Date(now.getTime() + this.policy.sessionTtlMs).toISOString();
    const session: SessionRecord = {
      tokenHash: sha256Hex(token),
      customerId: customer.id,
      csrfTokenHash: sha256Hex(csrfToken),
      createdAt: nowIso,
      expiresAt,
    };
    await this.store.transaction(async (tx) => {
      await tx.insertSession(session);
      await counts.clear(
        tx,
        nowIso,
        new Date(now.getTime() + this.limits.knownSourceMs).toISOString(),
        reserved.known,
      );
    });
    return { token, csrfToken, expiresAt, customer };
  }

  async logout(token: string): Promise<void> {
    const tokenHash = sha256Hex(token);
    this.sessionCache.delete(tokenHash);
    await this.store.transaction((tx) => tx.deleteSession(tokenHash));
    // Again after the commit: a lookup in between may have cached the old row.
    this.sessionCache.delete(tokenHash);
  }

  /**
   * The session's customer, or `unauthenticated` when missing, unknown or expired. On the
   * embedded store (one process, so every logout goes through this object) lookups are cached
   * for a few seconds; on a shared store every lookup reads it, so a logout through any process
   * ends the session everywhere at once. Expiry is checked every time.
   */
  async session(token: string): Promise<{ session: SessionRecord; principal: Principal }> {
    if (!token.startsWith('cs_')) throw unauthenticated();
    const tokenHash = sha256Hex(token);
    const nowMs = Date.now();
    const cached = this.sessionCache.get(tokenHash);
    let session = cached?.record ?? null;
    const cachedAtMs = cached?.cachedAtMs ?? 0;
    if (!session || nowMs - cachedAtMs >= this.keyCacheTtlMs || this.store.kind !== 'sqlite') {
      session = await this.store.lookup((reader) => reader.getSession(tokenHash));
      if (session) {
        if (this.sessionCache.size > 10_000) this.sessionCache.clear();
        this.sessionCache.set(tokenHash, { record: session, cachedAtMs: nowMs });
      } else {
        this.sessionCache.delete(tokenHash);
      }
    }
    if (!session || Date.parse(session.expiresAt) <= this.clock().getTime()) {
      throw unauthenticated('Your session has expired. Log in again.');
    }
    return { session, principal: { kind: 'customer', customerId: session.customerId } };
  }

  checkCsrf(session: SessionRecord, csrfToken: string | undefined): void {
    if (!csrfToken || !constantTimeEqual(sha256Hex(csrfToken), session.csrfTokenHash)) {
      throw new LockstepError('csrf_failed', 'The form is stale or was not sent by this site.');
    }
  }

  /** A merchant's secret key (`sk_...`) → the merchant principal. */
  async secretKey(key: string): Promise<Principal> {
    if (!key.startsWith('sk_')) throw unauthenticated('Use a secret API key (sk_...).');
    const record = await this.apiKey(key);
    if (record?.kind !== 'secret' || record.revokedAt !== null) {
      throw unauthenticated('The API key is unknown or revoked.');
    }
    return { kind: 'merchant', customerId: record.merchantId, apiKeyId: record.id };
  }

  /** A publishable key (`pk_...`): identifies a merchant for the widget; grants nothing else. */
  async publishableKey(key: string): Promise<ApiKeyRecord> {
    const record = key.startsWith('pk_') ? await this.apiKey(key) : null;
    if (record?.kind !== 'publishable' || record.revokedAt !== null) {
      throw unauthenticated('The publishable key is unknown or revoked.');
    }
    return record;
  }

  private async apiKey(key: string): Promise<ApiKeyRecord | null> {
    const keyHash = sha256Hex(key);
    const cached = this.keyCache.get(keyHash);
    const nowMs = Date.now();
    // Another process's commit (the CLI's key:revoke on the embedded store) may have revoked it.
    const foreignCommits = this.store.foreignCommits?.();
    if (
      cached &&
      nowMs - cached.cachedAtMs < this.keyCacheTtlMs &&
      cached.foreignCommits === foreignCommits
    ) {
      return cached.record;
    }
    const revocations = this.keyRevocations;
    const record = await this.store.lookup((reader) => reader.getApiKeyByHash(keyHash));
    // Read before a revocation that has emptied the cache since: answer with it, keep it not.
    if (record && revocations === this.keyRevocations) {
      if (this.keyCache.size > 10_000) this.keyCache.clear();
      this.keyCache.set(keyHash, { record, cachedAtMs: nowMs, foreignCommits });
    }
    return record;
  }
}

/**
 * Creates an API key. The secret is returned once; only its SHA-256 is stored (a high-entropy
 * random key needs no slow hash).
 */
export async function createApiKey(
  tx: StoreTx,
  merchantId: string,
  kind: 'secret' | 'publishable',
  now: string,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const key = `${kind === 'secret' ? 'sk' : 'pk'}_${randomToken(kind === 'secret' ? 32 : 16)}`;
  const record: ApiKeyRecord = {
    id: newId('key'),
    merchantId,
    kind,
    prefix: key.slice(0, 11),
    keyHash: sha256Hex(key),
    createdAt: now,
    revokedAt: null,
  };
  await tx.insertApiKey(record);
  return { key, record };
}

export async function customerByUserId(reader: StoreReader, userId: string) {
  return reader.getCustomerByUserId(userId);
}

function invalidCredentials(): LockstepError {
  return new LockstepError('invalid_credentials', 'The user ID or password is wrong.');
}

function unauthenticated(message = 'Authentication required.'): LockstepError {
  return new LockstepError('unauthenticated', message);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
