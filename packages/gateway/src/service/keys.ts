import { createHash } from 'node:crypto';
import { LockstepError } from '@lockstep/core';
import {
  CompactEncrypt,
  CompactSign,
  type CryptoKey,
  calculateJwkThumbprint,
  compactDecrypt,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { SigningKeyRecord, Store, StoreTx } from '../storage/store.ts';

/**
 * The gateway's signing keys (Ed25519, `EdDSA`). Invoices and webhooks are signed with the
 * active key; every key that has not expired is published at `/.well-known/jwks.json`, so a
 * rotation never breaks invoices already handed out or webhooks in flight. The active key's
 * successor is made with it and published from then on (its `createdAt` is when it starts
 * signing): a shop's verifier that fetched the key set at any time since knows the key its next
 * webhook is signed with. Made only when the first is retired, it was unknown to a verifier
 * that had fetched within its refetch cooldown (5 s), which refused the delivery (helper-104:
 * the mock gateway's `advanceTime` past 90 days, every time).
 */
const signingLifetimeMs = 90 * 24 * 60 * 60 * 1000;
/** A retired key keeps verifying this long: longer than the longest invoice (30 days). */
const verifyGraceMs = 31 * 24 * 60 * 60 * 1000;
const algorithms = ['EdDSA'];
/** How far apart the clocks of gateway processes sharing a store may be. */
const clockSkewMarginMs = 60 * 60 * 1000;

export const invoiceAudience = 'lockstep:invoice';
export const invoiceType = 'lockstep-invoice+jwt';
export const webhookType = 'lockstep-webhook+jws';

interface LoadedKey {
  record: SigningKeyRecord;
  privateKey: CryptoKey;
}

/** The signing keys cannot be used as configured; the gateway does not start. */
export class KeySealingError extends Error {}

const sealedType = 'jwk+json';
const keyVariable = 'LOCKSTEP_KEY_ENCRYPTION_KEY';

/**
 * Seals private signing keys at rest with the operator's key-encryption key (32 bytes, from
 * `LOCKSTEP_KEY_ENCRYPTION_KEY`), so a copy of the database (a backup, a replica, a dump) cannot
 * sign invoices or webhooks, and a row written by someone without that key is not used. A
 * sealed key is a JWE (`dir`, `A256GCM`) whose protected header names the key's kid: a sealed
 * key copied into another key's row does not open. The previous key-encryption key, while the
 * operator replaces it, opens what it sealed (`stale`: sealed again with the current one).
 */
class Sealer {
  private readonly current: Uint8Array;
  private readonly previous: Uint8Array | undefined;

  constructor(current: Uint8Array, previous?: Uint8Array) {
    for (const key of [current, previous]) {
      if (key && key.byteLength !== 32) throw new KeySealingError('A key-encryption key must be 32 bytes.');
    }
    this.current = current;
    this.previous = previous;
  }

  async seal(kid: string, privateJwk: Record<string, unknown>): Promise<{ sealed: string }> {
    const sealed = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(privateJwk)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid, cty: sealedType })
      .encrypt(this.current);
    return { sealed };
  }

  async open(kid: string, sealed: string): Promise<{ privateJwk: Record<string, unknown>; stale: boolean }> {
    for (const [key, stale] of [
      [this.current, false],
      [this.previous, true],
    ] as const) {
      if (!key) continue;
      let opened: Awaited<ReturnType<typeof compactDecrypt>>;
      try {
        opened = await compactDecrypt(sealed, key, {
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
        });
      } catch {
        continue;
      }
      if (opened.protectedHeader.kid !== kid || opened.protectedHeader.cty !== sealedType) {
        throw new KeySealingError(`The row of signing key ${kid} holds another key's sealed secret.`);
      }
      const privateJwk = JSON.parse(new TextDecoder().decode(opened.plaintext)) as Record<string, unknown>;
      return { privateJwk, stale };
    }
    throw new KeySealingError(
      `Signing key ${kid} does not open with ${keyVariable}: it was sealed with another key-encryption key.`,
    );
  }
}

function sealedOf(record: SigningKeyRecord): string | undefined {
  const sealed = record.privateJwk.sealed;
  return typeof sealed === 'string' ? sealed : undefined;
}

/** Refuses a row whose private key is not the one its public key and kid name. */
async function checkPair(record: SigningKeyRecord, privateJwk: Record<string, unknown>): Promise<void> {
  const { publicJwk } = record;
  const matches =
    privateJwk.kty === publicJwk.kty &&
    privateJwk.crv === publicJwk.crv &&
    privateJwk.x === publicJwk.x &&
    typeof privateJwk.d === 'string' &&
    (await calculateJwkThumbprint(publicJwk as JWK)) === record.kid;
  if (!matches) {
    throw new KeySealingError(
      `The row of signing key ${record.kid} holds a private key that is not its own.`,
    );
  }
}

export class KeyRing {
  private readonly store: Store;
  private readonly issuer: string;
  private readonly clock: () => Date;
  private active: LoadedKey | undefined;
  private jwks: JSONWebKeySet = { keys: [] };
  private verifier: ReturnType<typeof createLocalJWKSet> = createLocalJWKSet({ keys: [] });

  /** How old the loaded key set may get before `refreshIfStale` reloads it from the store. */
  private readonly refreshMs: number;
  private loadedAtMs = 0;
  /** Present when the operator gave a key-encryption key: private keys are stored sealed. */
  private readonly sealer: Sealer | undefined;
  /** Told once per key that a reload could not use (the ring keeps what it had). */
  private readonly onUnusableKey: (kid: string, error: unknown) => void;
  private readonly reportedUnusable = new Set<string>();
  /**
   * Private JWKs already opened and checked, by kid and stored secret: a reload every
   * `refreshMs` (and the start, which checks before it installs) opens each row once, not each
   * time. A row whose secret or public key changed is a new entry, checked again.
   */
  private readonly checked = new Map<string, Record<string, unknown>>();
  /** The replacement of a retired active key, or the making of its successor, in progress. */
  private replacing: Promise<void> | undefined;
  /** What `install` published: the kids, and when the last of them starts signing. */
  private publishedKids = new Set<string>();
  private latestPublishedStartMs = 0;

  constructor(
    store: Store,
    options: {
      issuer: string;
      now?: () => Date;
      refreshMs?: number;
      keyEncryptionKey?: Uint8Array;
      /** The key-encryption key being replaced: what it sealed is sealed again at start. */
      previousKeyEncryptionKey?: Uint8Array;
      onUnusableKey?: (kid: string, error: unknown) => void;
    },
  ) {
    this.sealer = options.keyEncryptionKey
      ? new Sealer(options.keyEncryptionKey, options.previousKeyEncryptionKey)
      : undefined;
    this.onUnusableKey = options.onUnusableKey ?? (() => {});
    this.refreshMs = options.refreshMs ?? 10_000;
    this.store = store;
    this.issuer = options.issuer;
    this.clock = options.now ?? (() => new Date());
  }

  /**
   * Loads the keys; creates and persists the first one on first start. With a key-encryption
   * key: first checks that every live sealed key opens, then seals the keys stored in the clear
   * (and seals again those the previous key-encryption key sealed); without one, refuses sealed
   * keys. Throws `KeySealingError` then, having changed nothing: the gateway does not start.
   */
  async load(): Promise<void> {
    const now = this.clock().getTime();
    let records = await this.store.read((reader) => reader.listSigningKeys());
    if (this.sealer) {
      await this.sealStored(records, now);
      records = await this.store.read((reader) => reader.listSigningKeys());
    } else if (records.some(sealedOf)) {
      throw new KeySealingError(
        `The signing keys are sealed: set ${keyVariable} to the key-encryption key they were sealed with.`,
      );
    }
    // Every live key must be usable at start; later reloads skip (and report) one that is not.
    // A key left in the clear beside sealed ones is not the bank's: skipped and reported.
    for (const record of records) {
      if (Date.parse(record.expiresAt) > now && !this.plantedInClear(record)) await this.privateJwkOf(record);
    }
    if (!records.some((record) => signsAt(record, now))) await this.rotate();
    await this.install(await this.store.read((reader) => reader.listSigningKeys()));
    // A store from before successors, or one whose successor this ring cannot use, gets one.
    await this.upToDate();
  }

  /**
   * Makes a new active key, and its successor; the old ones keep verifying until they expire
   * (a successor that never signed is withdrawn at once). The operator's `keys:rotate`: both
   * new keys are fresh, whatever the store held.
   */
  async rotate(): Promise<SigningKeyRecord> {
    const now = this.clock();
    const fresh = await this.freshPair(now);
    await this.store.transaction((tx) => this.replaceWith(tx, now, fresh));
    await this.install(await this.store.read((reader) => reader.listSigningKeys()));
    return fresh.active;
  }

  /** A new active key from `now` and its successor, not stored yet. */
  private async freshPair(now: Date): Promise<{ active: SigningKeyRecord; successor: SigningKeyRecord }> {
    const active = await this.newKey(now);
    return { active, successor: await this.newKey(new Date(active.retiresAt)) };
  }

  /** Retires every unretired key now (one that signed nothing is withdrawn) and stores `fresh`. */
  private async replaceWith(
    tx: StoreTx,
    now: Date,
    fresh: { active: SigningKeyRecord; successor: SigningKeyRecord },
  ): Promise<void> {
    const nowIso = now.toISOString();
    for (const existing of await tx.listSigningKeys()) {
      if (Date.parse(existing.retiresAt) > now.getTime()) {
        // Withdrawn at once only well before it would sign: by another process's clock, a few
        // seconds ahead of this one's, it may have signed already (helper-106).
        const signedNothing = Date.parse(existing.createdAt) > now.getTime() + clockSkewMarginMs;
        await tx.upsertSigningKey({
          ...existing,
          retiresAt: nowIso,
          expiresAt: signedNothing ? nowIso : new Date(now.getTime() + verifyGraceMs).toISOString(),
        });
      }
    }
    await tx.upsertSigningKey(fresh.active);
    await tx.upsertSigningKey(fresh.successor);
  }

  /**
   * Withdraws a signing key at once, whatever its dates: it is no longer published, so nothing
   * it signed verifies (invoices handed out with it are refused; the shops' verifiers refuse its
   * webhooks once they fetch the key set again). For a key that may have leaked: `keys:rotate`
   * alone lets the old key verify for 31 days. The key signing now, or its successor, is
   * replaced by two fresh keys. Answers false for a kid the store does not hold.
   */
  async revoke(kid: string): Promise<boolean> {
    const now = this.clock();
    const nowIso = now.toISOString();
    const fresh = await this.freshPair(now);
    // One transaction: a revocation half done (the CLI stopped between two) left the key active.
    const found = await this.store.transaction(async (tx) => {
      const record = (await tx.listSigningKeys()).find((candidate) => candidate.kid === kid);
      if (!record) return false;
      await tx.upsertSigningKey({ ...record, retiresAt: nowIso, expiresAt: nowIso });
      // Signing with it, or about to: two fresh keys.
      if (Date.parse(record.retiresAt) > now.getTime()) await this.replaceWith(tx, now, fresh);
      return true;
    });
    await this.install(await this.store.read((reader) => reader.listSigningKeys()));
    return found;
  }

  /**
   * Stores the successor of the key that signs now, unless one is stored: a key that starts
   * signing when it retires, published from now on. Processes sharing the store may each add
   * one at the same moment: both are published, and either signs.
   */
  private async addSuccessor(): Promise<void> {
    const now = this.clock().getTime();
    const records = await this.store.read((reader) => reader.listSigningKeys());
    // A row this ring cannot use (planted in the clear, sealed under another key) is none.
    const ahead = (rows: SigningKeyRecord[]) =>
      rows.some((record) => Date.parse(record.createdAt) > now && this.publishedKids.has(record.kid));
    const current = records.filter((record) => signsAt(record, now)).sort(newestFirst)[0];
    if (!current || ahead(records)) return;
    const successor = await this.newKey(new Date(current.retiresAt));
    await this.store.transaction(async (tx) => {
      if (ahead(await tx.listSigningKeys())) return;
      await tx.upsertSigningKey(successor);
    });
  }

  /** A key that signs for 90 days from `signsFrom`, then verifies for 31 more. */
  private async newKey(signsFrom: Date): Promise<SigningKeyRecord> {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', {
      crv: 'Ed25519',
      extractable: true,
    });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const from = signsFrom.getTime();
    return {
      kid,
      alg: 'EdDSA',
      publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' },
      privateJwk: await this.stored(kid, { ...(await exportJWK(privateKey)), kid }),
      createdAt: signsFrom.toISOString(),
      retiresAt: new Date(from + signingLifetimeMs).toISOString(),
      expiresAt: new Date(from + signingLifetimeMs + verifyGraceMs).toISOString(),
    };
  }

  /**
   * Reloads the key set when it is older than `refreshMs`: another gateway process sharing the
   * store may have rotated, and this process must publish (and sign with) what the store holds.
   */
  async refreshIfStale(): Promise<void> {
    if (Date.now() - this.loadedAtMs >= this.refreshMs) {
      await this.install(await this.store.read((reader) => reader.listSigningKeys()));
    }
    await this.upToDate();
  }

  /**
   * Signs with a key that has not retired, and publishes the key that signs after it: run before
   * every signature and every answer of the key set, so no verifier is handed a key set without
   * the next key. Any reload switches to the successor once it starts signing (the key set's
   * route, a stale ring), so its own successor is made here, not only when a signature finds
   * the active key retired (helper-106: a quiet gateway made none, and its day-180 key was
   * published by no one beforehand).
   */
  private async upToDate(): Promise<void> {
    if (!this.retired() && this.successorPublished()) return;
    // One replacement for the signatures asked for meanwhile, not one each.
    this.replacing ??= (async () => {
      const reload = async () => this.install(await this.store.read((reader) => reader.listSigningKeys()));
      await reload();
      if (this.retired()) {
        await this.rotate();
      } else if (!this.successorPublished()) {
        await this.addSuccessor();
        await reload();
      }
    })().finally(() => {
      this.replacing = undefined;
    });
    await this.replacing;
  }

  private retired(): boolean {
    return !this.active || Date.parse(this.active.record.retiresAt) <= this.clock().getTime();
  }

  /** Whether a key this ring publishes starts signing later (the active key's successor). */
  private successorPublished(): boolean {
    return this.latestPublishedStartMs > this.clock().getTime();
  }

  publicJwks(): JSONWebKeySet {
    return this.jwks;
  }

  get activeKid(): string {
    return this.requireActive().record.kid;
  }

  async signInvoice(claims: Record<string, unknown>, subject: string, expiresAt: Date) {
    const key = await this.signingKey();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: key.record.kid, typ: invoiceType })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(invoiceAudience)
      .setIssuedAt(Math.floor(this.clock().getTime() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(key.privateKey);
  }

  /**
   * Verifies an invoice token: our keys only, EdDSA only (no `none`, no HMAC confusion), our
   * issuer, audience and type, not expired. Throws `invoice_invalid` or `invoice_expired`.
   */
  async verifyInvoice(token: string): Promise<Record<string, unknown> & { sub: string }> {
    // A key revoked by the operator (another process: the CLI, a sibling) stops verifying here
    // within `refreshMs`; a known kid never reloads below (helper-107).
    await this.refreshIfStale();
    try {
      return await this.verifyInvoiceOnce(token);
    } catch (error) {
      // Another gateway process sharing the store may have rotated keys: reload and retry once
      // (at most once a second, so unknown kids cannot make every request hit the store).
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw mapInvoiceError(error);
      const nowMs = Date.now();
      if (nowMs - this.lastReloadMs < 1_000) throw mapInvoiceError(error);
      this.lastReloadMs = nowMs;
      await this.install(await this.store.read((reader) => reader.listSigningKeys()));
      try {
        return await this.verifyInvoiceOnce(token);
      } catch (retryError) {
        throw mapInvoiceError(retryError);
      }
    }
  }

  private lastReloadMs = 0;

  private async verifyInvoiceOnce(token: string): Promise<Record<string, unknown> & { sub: string }> {
    const { payload } = await jwtVerify(token, this.verifier, {
      algorithms,
      issuer: this.issuer,
      audience: invoiceAudience,
      typ: invoiceType,
      currentDate: this.clock(),
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    return payload as Record<string, unknown> & { sub: string };
  }

  /**
   * Signs a webhook body as a JWS with a detached payload (RFC 7515 Appendix F):
   * `<protected>..<signature>`; `iat` in the protected header lets receivers refuse replays.
   */
  async signWebhook(body: string): Promise<string> {
    const key = await this.signingKey();
    const jws = await new CompactSign(new TextEncoder().encode(body))
      .setProtectedHeader({
        alg: 'EdDSA',
        kid: key.record.kid,
        typ: webhookType,
        iat: Math.floor(this.clock().getTime() / 1000),
        // The body's SHA-256, signed with it: lets a receiver tell "body changed after signing"
        // from "not signed by the bank" when a signature fails.
        dig: createHash('sha256').update(body).digest('base64url'),
      })
      .sign(key.privateKey);
    const [protectedHeader, , signature] = jws.split('.');
    return `${protectedHeader}..${signature}`;
  }

  /** A private JWK as this ring stores it: sealed when it has a key-encryption key. */
  private async stored(kid: string, privateJwk: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.sealer ? this.sealer.seal(kid, privateJwk) : privateJwk;
  }

  /**
   * The row's private JWK, checked against its public key. With a key-encryption key only a
   * sealed row counts (a row in the clear was not written by this bank's gateway).
   */
  private async privateJwkOf(record: SigningKeyRecord): Promise<Record<string, unknown>> {
    const sealed = sealedOf(record);
    // The public key is part of what was checked: a row whose public key changed is new.
    const memo = `${record.kid}\n${sealed ?? String(record.privateJwk.d)}\n${JSON.stringify(record.publicJwk)}`;
    const known = this.checked.get(memo);
    if (known) return known;
    let privateJwk: Record<string, unknown>;
    if (sealed === undefined) {
      if (this.sealer) {
        throw storedInClear(record.kid);
      }
      privateJwk = record.privateJwk;
    } else {
      if (!this.sealer) {
        throw new KeySealingError(
          `Signing key ${record.kid} is sealed: set ${keyVariable} to the key-encryption key it was sealed with.`,
        );
      }
      privateJwk = (await this.sealer.open(record.kid, sealed)).privateJwk;
    }
    await checkPair(record, privateJwk);
    this.checked.set(memo, privateJwk);
    return privateJwk;
  }

  /**
   * Seals the keys stored in the clear (from before a key-encryption key was set) and seals
   * again those the previous key-encryption key sealed, after checking that every live sealed
   * key opens (a wrong key changes nothing). A key expired and sealed under an unknown key is
   * left as it is: it verifies nothing any more.
   */
  private async sealStored(records: SigningKeyRecord[], nowMs: number): Promise<void> {
    const sealer = this.sealer;
    if (!sealer) return;
    const changes: Array<{ record: SigningKeyRecord; privateJwk: Record<string, unknown> }> = [];
    // Keys in the clear are adopted only on the first start with a key-encryption key, when no
    // key is sealed yet (the keys of before). Once one is, a key in the clear was written by
    // someone without the key-encryption key: it is never sealed, so never published or signed
    // with; it is reported and skipped (helper-43's review: a planted key was adopted at the
    // next restart, its private half the planter's).
    const firstSealing = !records.some((record) => sealedOf(record) !== undefined);
    for (const record of records) {
      const sealed = sealedOf(record);
      if (sealed === undefined) {
        if (firstSealing) changes.push({ record, privateJwk: record.privateJwk });
        continue;
      }
      try {
        const opened = await sealer.open(record.kid, sealed);
        if (opened.stale) changes.push({ record, privateJwk: opened.privateJwk });
      } catch (error) {
        if (Date.parse(record.expiresAt) > nowMs) throw error;
      }
    }
    if (changes.length === 0) return;
    for (const { record, privateJwk } of changes) await checkPair(record, privateJwk);
    const sealedValues = await Promise.all(
      changes.map(async ({ record, privateJwk }) => ({
        record,
        sealed: await sealer.seal(record.kid, privateJwk),
      })),
    );
    // Only rows still as read: another process may have sealed one meanwhile.
    await this.store.transaction(async (tx) => {
      for (const { record, sealed } of sealedValues) {
        await tx.sealSigningKey(record.kid, record.privateJwk, sealed);
      }
    });
  }

  /**
   * The key to sign with now. A gateway runs for longer than a key signs (90 days): a retired
   * active key is replaced by what the store holds (another process, or the operator's
   * `keys:rotate`, may have made one: the ring reloads when stale anyway), else by a new key, so
   * nothing is signed with a key past its retirement, and every signature verifies for at least
   * the 31 days of grace in every process (helper-43's review: day 122 signed with an expired
   * key, which a sibling process refused).
   */
  private async signingKey(): Promise<LoadedKey> {
    await this.refreshIfStale();
    return this.requireActive();
  }

  /**
   * With a key-encryption key, once `load` has sealed what it adopts (`sealStored`), a row in
   * the clear was written by someone without that key.
   */
  private plantedInClear(record: SigningKeyRecord): boolean {
    return this.sealer !== undefined && sealedOf(record) === undefined;
  }

  private reportUnusable(kid: string, error: unknown): void {
    if (this.reportedUnusable.has(kid)) return;
    this.reportedUnusable.add(kid);
    this.onUnusableKey(kid, error);
  }

  private requireActive(): LoadedKey {
    if (!this.active) throw new Error('KeyRing.load() must run before signing.');
    return this.active;
  }

  /**
   * Publishes the live keys and signs with the newest unretired one. A key this ring cannot use
   * (sealed under another key-encryption key, in the clear although one is set, or not matching
   * its public key) is neither published nor signed with: at start that stops the gateway
   * (`load`); on a later reload it is reported once and the ring keeps signing with what it had.
   */
  private async install(records: SigningKeyRecord[]): Promise<void> {
    this.loadedAtMs = Date.now();
    const now = this.clock().getTime();
    const usable: Array<{ record: SigningKeyRecord; privateJwk: Record<string, unknown> }> = [];
    for (const record of records) {
      if (Date.parse(record.expiresAt) <= now) continue;
      if (this.plantedInClear(record)) {
        this.reportUnusable(record.kid, storedInClear(record.kid));
        continue;
      }
      try {
        usable.push({ record, privateJwk: await this.privateJwkOf(record) });
      } catch (error) {
        if (!this.active) throw error;
        this.reportUnusable(record.kid, error);
      }
    }
    const signing = usable
      .filter(({ record }) => signsAt(record, now))
      .sort((a, b) => newestFirst(a.record, b.record))[0];
    if (signing) {
      this.active = {
        record: signing.record,
        privateKey:
          signing.record.kid === this.active?.record.kid
            ? this.active.privateKey
            : ((await importJWK(signing.privateJwk as JWK, 'EdDSA')) as CryptoKey),
      };
    }
    // The key signing now stays published even if its row became unusable since.
    const published = new Map(usable.map(({ record }) => [record.kid, record.publicJwk as JWK]));
    if (this.active && !published.has(this.active.record.kid)) {
      published.set(this.active.record.kid, this.active.record.publicJwk as JWK);
    }
    this.jwks = { keys: [...published.values()] };
    this.verifier = createLocalJWKSet(this.jwks);
    this.publishedKids = new Set(published.keys());
    this.latestPublishedStartMs = Math.max(
      0,
      ...usable
        .filter(({ record }) => published.has(record.kid))
        .map(({ record }) => Date.parse(record.createdAt)),
    );
  }
}

/** Whether the key signs at `nowMs`: from its `createdAt` (a successor's is ahead) to its retirement. */
function signsAt(record: SigningKeyRecord, nowMs: number): boolean {
  return Date.parse(record.createdAt) <= nowMs && Date.parse(record.retiresAt) > nowMs;
}

function newestFirst(a: SigningKeyRecord, b: SigningKeyRecord): number {
  return b.createdAt.localeCompare(a.createdAt);
}

function storedInClear(kid: string): KeySealingError {
  return new KeySealingError(`Signing key ${kid} is stored in the clear although ${keyVariable} is set.`);
}

function mapInvoiceError(error: unknown): LockstepError {
  if (error instanceof joseErrors.JWTExpired) {
    return new LockstepError('invoice_expired', 'This invoice has expired.');
  }
  return new LockstepError('invoice_invalid', 'This invoice is not a valid signed invoice.');
}
