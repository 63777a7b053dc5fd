import { execFileSync } from 'node:child_process';
import {
  ApiServerError,
  AuthenticationError,
  IdempotencyError,
  InsufficientFundsError,
  InvalidRequestError,
  InvoiceError,
  LockConflictError,
  Lockstep,
  LockstepConfigError,
  LockstepConnectionError,
  LockstepValidationError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  StateConflictError,
} from '@lockstep/merchant';
import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeFlags, root } from '../support/gateway-process.ts';

/** The SDK's transport behaviour against scripted answers (msw), attempt by attempt. */
const baseUrl = 'https://gateway.retry.test';
const apiKey = 'sk_test_0123456789abcdef';
const server = setupServer();
beforeAll(() => server.listen());
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

interface Attempt {
  atMs: number;
  idempotencyKey: string | null;
  authorization: string | null;
}

/** Answers POST /v1/temporary-accounts/TA-1/lock with `answers[i]` on attempt i (the last repeats). */
function script(answers: Array<() => Response | Promise<Response>>): Attempt[] {
  const attempts: Attempt[] = [];
  server.use(
    http.post(`${baseUrl}/v1/temporary-accounts/TA-1/lock`, ({ request }) => {
      attempts.push({
        atMs: Date.now(),
        idempotencyKey: request.headers.get('idempotency-key'),
        authorization: request.headers.get('authorization'),
      });
      return (answers[attempts.length - 1] ?? answers.at(-1))!();
    }),
  );
  return attempts;
}

const account = { object: 'temporary_account', code: 'TA-1' };
const ok = () => HttpResponse.json(account);
const failure =
  (status: number, code: string, headers: Record<string, string> = {}) =>
  () =>
    HttpResponse.json(
      { error: { code, message: `${code} happened`, requestId: 'req_body' } },
      { status, headers: { 'x-request-id': 'req_header', ...headers } },
    );

const client = (options: Partial<ConstructorParameters<typeof Lockstep>[0]> = {}) =>
  new Lockstep({ apiKey, baseUrl, backoffLimitMs: 50, ...options });

describe('retries', () => {
  it('retries a dropped connection with the same Idempotency-Key', async () => {
    const attempts = script([() => HttpResponse.error(), ok]);
    await expect(client().temporaryAccounts.lock('TA-1')).resolves.toMatchObject(account);
    expect(attempts).toHaveLength(2);
    expect(attempts[0]?.idempotencyKey).toMatch(/^sdk_/);
    expect(attempts[1]?.idempotencyKey).toBe(attempts[0]?.idempotencyKey);
    expect(attempts[0]?.authorization).toBe(`Bearer ${apiKey}`);
  });

  it("retries 503 then succeeds, keeping the caller's own key", async () => {
    const attempts = script([failure(503, 'service_unavailable'), ok]);
    await client().temporaryAccounts.lock('TA-1', {}, { idempotencyKey: 'order-7-lock' });
    expect(attempts.map((attempt) => attempt.idempotencyKey)).toEqual(['order-7-lock', 'order-7-lock']);
  });

  it('waits as long as Retry-After says on 429', async () => {
    const attempts = script([failure(429, 'rate_limited', { 'retry-after': '1' }), ok]);
    await client({ backoffLimitMs: 5_000 }).temporaryAccounts.lock('TA-1');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.atMs - attempts[0]!.atMs).toBeGreaterThanOrEqual(950);
  });

  it('never retries a 409 lock conflict', async () => {
    const attempts = script([failure(409, 'locked_by_other_party'), ok]);
    const error = await client()
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(LockConflictError);
    expect(attempts).toHaveLength(1);
  });

  it('gives up after maxRetries and throws the last error, typed', async () => {
    const attempts = script([failure(500, 'internal_error')]);
    const error = await client({ maxRetries: 2 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(ApiServerError);
    expect(error).toMatchObject({ code: 'internal_error', status: 500, requestId: 'req_header' });
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((attempt) => attempt.idempotencyKey)).size).toBe(1);
  });

  it('a fresh call gets a fresh key', async () => {
    const attempts = script([ok]);
    await client().temporaryAccounts.lock('TA-1');
    await client().temporaryAccounts.lock('TA-1');
    expect(attempts[0]?.idempotencyKey).not.toBe(attempts[1]?.idempotencyKey);
  });

  it('reports an unreachable gateway and a timeout as connection errors', async () => {
    script([() => HttpResponse.error()]);
    const unreachable = await client({ maxRetries: 1 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(unreachable).toBeInstanceOf(LockstepConnectionError);
    expect(unreachable.code).toBe('connection_failed');
    server.resetHandlers();
    script([
      async () => {
        await delay(1_000);
        return ok();
      },
    ]);
    const slow = await client({ maxRetries: 0, timeoutMs: 100 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(slow).toBeInstanceOf(LockstepConnectionError);
    expect(slow.code).toBe('timeout');
  });
});

describe('more transport cases', () => {
  it('keeps a path in the base URL', async () => {
    const seen: string[] = [];
    server.use(
      http.get('https://gateway.path.test/bank/api/v1/events', ({ request }) => {
        seen.push(new URL(request.url).pathname);
        return HttpResponse.json({ object: 'list', data: [] });
      }),
    );
    await new Lockstep({ apiKey, baseUrl: 'https://gateway.path.test/bank/api' }).events.list();
    expect(seen).toEqual(['/bank/api/v1/events']);
  });

  it('honours Retry-After on a 502 too', async () => {
    const attempts = script([failure(502, 'internal_error', { 'retry-after': '1' }), ok]);
    await client({ backoffLimitMs: 5_000 }).temporaryAccounts.lock('TA-1');
    expect(attempts[1]!.atMs - attempts[0]!.atMs).toBeGreaterThanOrEqual(950);
  });

  it('retries "Idempotency-Key in use" (its own earlier attempt still running), with the same key', async () => {
    const attempts = script([failure(409, 'idempotency_key_in_use'), ok]);
    await client().temporaryAccounts.lock('TA-1');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]?.idempotencyKey).toBe(attempts[0]?.idempotencyKey);
  });

  it('maps a proxy timeout (408) to a connection error and a bodyless 404 to not_found', async () => {
    script([() => new HttpResponse(null, { status: 408 })]);
    const timeout = await client({ maxRetries: 0 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(timeout).toMatchObject({ code: 'timeout' });
    expect(timeout).toBeInstanceOf(LockstepConnectionError);
    server.resetHandlers();
    script([
      () => new HttpResponse('<html>gone</html>', { status: 404, headers: { 'content-type': 'text/html' } }),
    ]);
    const missing = await client({ maxRetries: 0 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.code).toBe('not_found');
  });

  it('refuses impossible retry and timeout options at construction', () => {
    expect(() => client({ maxRetries: -1 })).toThrow(LockstepConfigError);
    expect(() => client({ maxRetries: 1.5 })).toThrow(LockstepConfigError);
    expect(() => client({ timeoutMs: 2 ** 31 })).toThrow(LockstepConfigError);
  });
});

describe('error mapping', () => {
  const table: Array<[number, string, new (...args: never[]) => Error]> = [
    [400, 'validation_failed', InvalidRequestError],
    [400, 'invalid_amount', InvalidRequestError],
    [413, 'payload_too_large', InvalidRequestError],
    [415, 'unsupported_media_type', InvalidRequestError],
    [401, 'unauthenticated', AuthenticationError],
    [402, 'insufficient_funds', InsufficientFundsError],
    [403, 'not_own_lock', PermissionError],
    [403, 'forbidden', PermissionError],
    [404, 'not_found', NotFoundError],
    [409, 'locked_by_other_party', LockConflictError],
    [409, 'exceeds_movable_amount', LockConflictError],
    [409, 'already_shipped', StateConflictError],
    [409, 'account_dissolved', StateConflictError],
    [400, 'invoice_invalid', InvoiceError],
    [410, 'invoice_expired', InvoiceError],
    [409, 'invoice_already_used', InvoiceError],
    [422, 'idempotency_key_reused', IdempotencyError],
    [409, 'idempotency_key_in_use', IdempotencyError],
    [429, 'rate_limited', RateLimitError],
    [503, 'service_unavailable', ApiServerError],
    [500, 'internal_error', ApiServerError],
  ];
  it.each(table)('HTTP %i %s → %o', async (status, code, ErrorClass) => {
    script([failure(status, code)]);
    const error = await client({ maxRetries: 0 })
      .temporaryAccounts.lock('TA-1')
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ code, status, requestId: 'req_header', message: `${code} happened` });
  });
});

describe('bad input, refused before any request', () => {
  it('refuses a missing, publishable or malformed API key and a bad base URL at construction', () => {
    expect(() => new Lockstep({ apiKey: '', baseUrl })).toThrow(LockstepConfigError);
    expect(() => new Lockstep({ apiKey: 'pk_0123456789abcdef', baseUrl })).toThrow(/publishable/);
    expect(() => new Lockstep({ apiKey: 'sk_short', baseUrl })).toThrow(LockstepConfigError);
    expect(() => new Lockstep({ apiKey, baseUrl: 'gateway' })).toThrow(/absolute URL/);
    expect(() => new Lockstep({ apiKey, baseUrl: 'ftp://gateway.test' })).toThrow(LockstepConfigError);
  });

  it('refuses non-integer, negative, unsafe and string amounts without calling the gateway', async () => {
    const attempts = script([ok]);
    for (const amountMinor of [48.5, -1, 0, Number.MAX_SAFE_INTEGER + 2, '4800' as never, Number.NaN]) {
      const error = await client()
        .invoices.create({
          amountMinor,
          currency: 'JPY',
          orderReference: 'o',
          description: 'd',
          payeeContact: 'c',
        })
        .catch((caught) => caught);
      expect(error).toBeInstanceOf(LockstepValidationError);
      expect(error.code).toBe('invalid_amount');
    }
    const withdrawal = await client()
      .temporaryAccounts.withdraw('TA-1', { amountMinor: 1.5 })
      .catch((caught) => caught);
    expect(withdrawal).toBeInstanceOf(LockstepValidationError);
    expect(attempts).toHaveLength(0);
  });
});

describe('one source for the wire types', () => {
  it("the generated SDK types match the gateway's schemas (regenerate if this fails)", () => {
    const output = execFileSync(process.execPath, [...nodeFlags, 'scripts/generate-types.ts', '--check'], {
      cwd: `${root}/packages/merchant`,
      encoding: 'utf8',
    });
    expect(output).toContain('up to date');
  });
});

describe('runs anywhere fetch does', () => {
  it('the main and webhooks entries bundle for a browser/edge target with no Node built-ins', async () => {
    const { build } = await import('esbuild');
    for (const entry of ['src/index.ts', 'src/webhooks.ts']) {
      const result = await build({
        entryPoints: [`${root}/packages/merchant/${entry}`],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
      });
      const code = new TextDecoder().decode(result.outputFiles[0]?.contents);
      expect(code).not.toMatch(/from ["']node:|require\(["']node:/);
      expect(code.length).toBeGreaterThan(1_000);
    }
  });
});
