import { hash, randomFillSync, timingSafeEqual } from 'node:crypto';

/**
 * Identifiers and secrets. Ids carry a type prefix so a reader (and a support engineer) can
 * tell them apart; the random part comes from the OS CSPRNG (128 bits; 80 bits after a time
 * prefix in sortable ids), so ids are unguessable.
 */
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Random bytes from the OS CSPRNG, drawn 4 KiB at a time (one system call per ~250 ids instead
 * of one per id: it showed up at 5% of a command's CPU). Every byte is handed out once.
 */
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;

function randomSlice(bytes: number): Uint8Array {
  if (bytes > pool.length) return randomFillSync(Buffer.allocUnsafe(bytes));
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const slice = pool.subarray(poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return slice;
}

export function randomToken(bytes = 16): string {
  return base32(randomSlice(bytes));
}

export type IdPrefix = 'cus' | 'acc' | 'inv' | 'key' | 'evt' | 'whe' | 'dlv' | 'jrn' | 'req';

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomToken(16)}`;
}

/**
 * An id whose first 10 characters are the time in milliseconds (like a ULID), then 80 random
 * bits: still unguessable, but new rows land at the right edge of their index instead of on a
 * random page (events, journal entries and deliveries are written on every command).
 */
export function newSortableId(prefix: IdPrefix, nowMs = Date.now()): string {
  let time = '';
  let rest = Math.max(0, Math.trunc(nowMs));
  for (let index = 0; index < 10; index++) {
    time = alphabet[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  return `${prefix}_${time}${randomToken(10)}`;
}

/**
 * A temporary account code (Account_Code of Drawing 11): `ta_` and 26 base32 characters
 * (128 random bits). The store's primary key refuses a repeat, and dissolved accounts keep
 * their rows, so a code is never reused.
 */
export function newAccountCode(): string {
  return `ta_${randomToken(16)}`;
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Compares two secrets (or their hashes) in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  if (left.length !== right.length) {
    // Still spend the comparison so the length check alone does not leak timing.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
