import type { ServerResponse } from 'node:http';
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { currencies, LockstepError } from '@lockstep/core';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { RegExpRouter } from 'hono/router/reg-exp-router';
import type { Gateway } from '../gateway.ts';
import { newId } from '../ids.ts';
import { bearerToken, type GatewayEnv, resolvePrincipal } from './context.ts';
import { errorBody, statusOfCode, toLockstepError } from './errors.ts';
import { bankPages } from './pages/bank.ts';
import { widgetRoutes } from './pages/widget.ts';
import { accountRoutes } from './routes/accounts.ts';
import { customerRoutes } from './routes/customers.ts';
import { invoiceRoutes } from './routes/invoices.ts';
import { merchantRoutes } from './routes/merchants.ts';
import { streamRoutes } from './routes/stream.ts';
import { CodeParam, ErrorResponse, Health, Jwks } from './schemas.ts';

export const bodyBytesMax = 64 * 1024;

/**
 * The gateway's HTTP face: one Hono app with the JSON API, its OpenAPI document, and (mounted
 * by `gateway.ts`) the bank's pages and the checkout widget.
 */
export function createApp(gateway: Gateway): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>({
    // One regular expression for all routes (SmartRouter fell back to the trie: ~4% of a call).
    router: new RegExpRouter(),
    defaultHook: (result) => {
      if (!result.success) {
        const issues = describeIssues(result.error.issues);
        const first = issues[0] ?? { field: 'body', message: 'invalid' };
        const listed = issues.slice(0, 3).map((issue) => `${issue.field}: ${issue.message}`);
        if (issues.length > 3) listed.push(`and ${issues.length - 3} more`);
        const currency = unknownCurrency(issues, (result as { data?: unknown }).data);
        if (currency) throw currency;
        throw new LockstepError('validation_failed', listed.join('; '), { field: first.field });
      }
    },
  });

  app.use(async function requestContext(c, next) {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : newId('req');
    c.set('requestId', requestId);
    c.set('gateway', gateway);
    // Straight onto the Node response when there is one: a header set through Hono turns every
    // answer's headers into a WHATWG Headers object, which cost ~6% of a status read.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing && typeof outgoing.setHeader === 'function') {
      outgoing.setHeader('X-Request-Id', requestId);
      // Stopping: the client finishes this request and reconnects elsewhere (main.ts).
      if (gateway.draining) {
        outgoing.setHeader('Connection', 'close');
        // A request pipelined behind another on its connection waits for that answer before its
        // own can be written, and the connection closes after that answer: its own would never
        // be sent, so it is not run (helper-69's review: it ran, and its client never learnt).
        if (!outgoing.socket) {
          throw new LockstepError(
            'service_unavailable',
            'The gateway is stopping; this request was not run. Send it again.',
          );
        }
      }
    } else c.header('X-Request-Id', requestId);
    const startedMs = performance.now();
    await next();
    // A live stream's answer says keep-alive itself (hono's streamSSE), which overrode the
    // `Connection: close` above: the connection then stayed open after the stream ended, until
    // the drain closed it (helper-70's review).
    if (gateway.draining && c.res.headers.has('connection')) c.res.headers.set('Connection', 'close');
    // Stopping, and still accepting queued connections: the answer waits until the listener is
    // closed, so its client's next connection is refused, not reset (main.ts stopGateway).
    if (gateway.answersHeld) await gateway.answersHeld;
    // One structured line per request; debug level so the hot path costs nothing by default.
    gateway.log.debug(
      {
        requestId,
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        durationMs: performance.now() - startedMs,
      },
      'request',
    );
  });

  const tooLarge = () => {
    throw new LockstepError('payload_too_large', `Request bodies are at most ${bodyBytesMax} bytes.`, {
      bodyBytesMax,
    });
  };
  // Bodies with a declared length are checked by the header alone (Node's parser holds the
  // client to it); Hono's bodyLimit, which reads through a WHATWG Request (~9% of a command's
  // CPU), only guards chunked bodies. Nothing is read here: the body is read once, after
  // authentication, by the JSON validator (the idempotency hash reuses Hono's cached text).
  // The bank's form posts get the same limit.
  const chunkedLimit = bodyLimit({ maxSize: bodyBytesMax, onError: tooLarge });
  const limitBody: MiddlewareHandler<GatewayEnv> = async function limitBody(c, next) {
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const declared = c.req.header('content-length');
    if (declared === undefined) return chunkedLimit(c, next);
    const declaredBytes = /^\d{1,15}$/.test(declared) ? Number(declared) : Number.NaN;
    if (Number.isNaN(declaredBytes)) {
      // Node's parser refuses such a header on a socket; this covers in-process callers.
      throw new LockstepError('validation_failed', 'Content-Length must be a byte count.', {
        field: 'content-length',
      });
    }
    if (declaredBytes > bodyBytesMax) tooLarge();
    return next();
  };
  app.use('/v1/*', limitBody);
  app.use('/bank/*', limitBody);

  // Authentication runs before request validation, so a caller without valid credentials
  // learns nothing about what a valid body looks like.
  // Logout authenticates itself: a repeated logout finds its session gone, and says 204.
  const publicRoutes = new Set([
    'POST /v1/sessions',
    'POST /v1/invoices/verify',
    'DELETE /v1/sessions/current',
  ]);
  app.use('/v1/*', async function authenticate(c, next) {
    // Tokens travel in the Authorization header only: one in a URL ends up in proxy and server
    // logs (helper-32's audit). The old `?access_token=` of the stream is refused, not ignored.
    // The name as the query decodes it: `access%5Ftoken` is the same parameter (helper-40).
    if (c.req.url.includes('?') && c.req.query('access_token') !== undefined) {
      throw new LockstepError(
        'unauthenticated',
        'Send the token in the Authorization header, never in the URL (access_token is not accepted).',
      );
    }
    if (!publicRoutes.has(`${c.req.method} ${c.req.path}`)) {
      const principal = await resolvePrincipal(c, bearerToken(c));
      const merchantOnly =
        c.req.path.startsWith('/v1/invoices') || c.req.path.startsWith('/v1/webhook-endpoints');
      const customerOnly = c.req.path === '/v1/me' || c.req.path === '/v1/accounts';
      if (
        (merchantOnly && principal.kind !== 'merchant') ||
        (customerOnly && principal.kind !== 'customer')
      ) {
        throw new LockstepError(
          'forbidden',
          merchantOnly
            ? 'This endpoint is for merchants (secret API key).'
            : 'This endpoint is for customers (session token).',
        );
      }
      c.set('principal', principal);
    }
    await next();
  });
  app.use('/v1/*', refuseUnstorableText);
  app.use('/bank/*', refuseUnstorableText);

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? newId('req');
    let failure: LockstepError;
    if (error instanceof HTTPException) {
      failure = fromHttpException(error);
    } else {
      failure = toLockstepError(error);
      if (failure.code === 'internal_error') {
        gateway.log.error({ err: error, requestId, path: c.req.path }, 'unhandled error');
      }
    }
    const status = statusOfCode[failure.code];
    if (
      failure.details?.retryAfterSeconds &&
      (failure.code === 'login_locked' || failure.code === 'rate_limited')
    ) {
      c.header('Retry-After', String(failure.details.retryAfterSeconds));
    }
    return c.json(errorBody(failure, requestId), status as 400);
  });

  app.notFound((c) =>
    c.json(
      errorBody(
        new LockstepError('not_found', `No route for ${c.req.method} ${c.req.path}.`),
        c.get('requestId') ?? newId('req'),
      ),
      404,
    ),
  );

  customerRoutes(app);
  accountRoutes(app);
  invoiceRoutes(app);
  merchantRoutes(app);
  streamRoutes(app);
  widgetRoutes(app);
  bankPages(app);

  // For load balancers and supervisors: 503 while stopping (from the pre-stop delay on), while
  // the database does not answer, and once an embedded store stopped taking writes (it was 200
  // in all three cases: helper-49's review).
  app.get('/healthz', async (c) => {
    c.header('Cache-Control', 'no-store');
    const store = gateway.store.kind;
    if (gateway.draining || gateway.leaving)
      return c.json({ ok: false, store, reason: 'The gateway is stopping.' }, 503);
    const health = await gateway.store.health();
    if (!health.ok) return c.json({ ok: false, store, reason: health.reason }, 503);
    return c.json({ ok: true, store });
  });

  // Served outside the JSON API helpers, listed in the document all the same (helper-50).
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/healthz',
    tags: ['Operations'],
    summary: 'Whether this gateway process can serve: 503 while stopping or while its store cannot',
    responses: {
      200: { description: 'Serving', content: { 'application/json': { schema: Health } } },
      503: {
        description: 'Not serving now (reason given)',
        content: { 'application/json': { schema: Health } },
      },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/.well-known/jwks.json',
    tags: ['Invoices'],
    summary: "The bank's public signing keys (Ed25519): verify invoices and webhook signatures",
    responses: {
      200: {
        description: 'A JSON Web Key Set (cache up to 5 minutes)',
        content: { 'application/json': { schema: Jwks } },
      },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/temporary-accounts/{code}/stream',
    tags: ['Temporary accounts'],
    summary:
      "The account's events live, as Server-Sent Events (id: the event's seq; send Last-Event-ID to resume)",
    security: [{ secretKey: [] }, { sessionToken: [] }],
    request: {
      params: CodeParam,
      headers: z.object({ 'last-event-id': z.string().optional() }),
    },
    responses: {
      200: {
        description:
          'text/event-stream: one event per account event (event: its type; data: the event as JSON)',
        content: { 'text/event-stream': { schema: { type: 'string' } } },
      },
      404: {
        description: 'Not found: `not_found`',
        content: { 'application/json': { schema: ErrorResponse } },
      },
    },
  });

  app.openAPIRegistry.registerComponent('securitySchemes', 'secretKey', {
    type: 'http',
    scheme: 'bearer',
    description: "A merchant's secret API key (sk_...).",
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'sessionToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'A customer session token (cs_...) from POST /v1/sessions.',
  });
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Lockstep gateway',
      version: '1.0.0',
      description: 'Escrow by temporary accounts with mutual locks. See docs/api.md.',
    },
  });
  return app;
}

function fromHttpException(error: HTTPException): LockstepError {
  if (error.status === 415) {
    return new LockstepError('unsupported_media_type', 'Send the body as application/json.');
  }
  if (error.status === 413) {
    return new LockstepError('payload_too_large', `Request bodies are at most ${bodyBytesMax} bytes.`);
  }
  if (error.status === 400 && /json/i.test(error.message)) {
    return new LockstepError('malformed_json', 'The request body is not valid JSON.');
  }
  if (error.status === 401) return new LockstepError('unauthenticated', 'Authentication required.');
  if (error.status === 403) return new LockstepError('forbidden', 'Not allowed.');
  if (error.status === 404) return new LockstepError('not_found', 'Not found.');
  if (error.status >= 500) return new LockstepError('internal_error', 'Something went wrong on our side.');
  return new LockstepError('validation_failed', error.message || 'Invalid request.');
}

/**
 * Text no store can keep as sent: a NUL character (PostgreSQL refuses it: the request failed
 * with a 500 there) or half of a UTF-16 surrogate pair (both stores would keep U+FFFD instead,
 * so the answer would not say what was stored). Refused as `validation_failed` before anything
 * runs, on both stores alike: in the URL (`%00`), in a form (`%00`), or escaped in a JSON body
 * (only bodies with `\\u` escapes are parsed here; raw control characters are not JSON anyway).
 */
const refuseUnstorableText: MiddlewareHandler<GatewayEnv> = async function refuseUnstorableText(c, next) {
  const refuse = (where: string, why = 'text may not contain NUL or lone surrogate characters.') => {
    throw new LockstepError('validation_failed', `${where}: ${why}`, { field: where });
  };
  if (/%00/i.test(c.req.url)) refuse('url');
  const method = c.req.method;
  if (method !== 'GET' && method !== 'HEAD') {
    // Media types are case-insensitive, as the validators that parse the body take them
    // (`Application/JSON` skipped these checks: helper-40's review).
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    if (type.includes('application/x-www-form-urlencoded')) {
      if (/%00/i.test(await c.req.text())) refuse('body');
    } else if (type.includes('multipart/form-data')) {
      // The bank's forms are read with parseBody, which takes this encoding too (cached there).
      // A body that is not valid multipart is the client's mistake: 400, not a 500 and an
      // error in the log (helper-49's review: anyone could raise those on the login pages).
      const form = await c.req
        .parseBody({ all: true })
        .catch(() => refuse('body', 'not a valid multipart form.'));
      if (
        !storable(
          Object.values(form)
            .flat()
            .filter((item) => typeof item === 'string'),
        )
      )
        refuse('body');
    } else if (type.includes('json')) {
      const text = await c.req.text();
      if (text.includes('\\u') && !storable(parseOrUndefined(text))) refuse('body');
      // JSON.parse keeps the last of two equal keys, another parser (a proxy's) may keep the
      // first: such a body could mean two amounts. Refused rather than guessed.
      if (hasDuplicateKeys(text)) refuse('body', 'an object names the same key twice.');
    }
  }
  return next();
};

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // the validator answers malformed JSON
  }
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when no string of the value (keys included) holds NUL or a lone surrogate. Walked with a
 * stack of its own, not recursion: a body nested 30,000 deep (60 KB, under the size limit)
 * overflowed the call stack, and any client, unauthenticated, got a 500 (helper-102).
 */
function storable(root: unknown): boolean {
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value === 'string') {
      if (value.includes('\0') || loneSurrogate.test(value)) return false;
    } else if (Array.isArray(value)) {
      for (const item of value) pending.push(item);
    } else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) pending.push(key, item);
    }
  }
  return true;
}

/**
 * True when some object of this JSON text names a key twice (compared as JSON.parse would
 * decode it). Text that is not JSON answers false: the validator refuses it.
 */
export function hasDuplicateKeys(text: string): boolean {
  try {
    /** Per open object its keys; `null` for an open array. */
    const open: Array<Set<string> | null> = [];
    for (let index = 0; index < text.length; index++) {
      const char = text[index];
      if (char === '"') {
        const start = index;
        let escaped = false;
        for (index++; index < text.length && text[index] !== '"'; index++) {
          if (text[index] === '\\') {
            escaped = true;
            index++;
          }
        }
        let next = index + 1;
        while (next < text.length && ' \t\n\r'.includes(text[next] as string)) next++;
        const keys = open.at(-1);
        if (text[next] === ':' && keys) {
          const raw = text.slice(start, index + 1);
          const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
          if (keys.has(key)) return true;
          keys.add(key);
        }
      } else if (char === '{') open.push(new Set());
      else if (char === '[') open.push(null);
      else if (char === '}' || char === ']') open.pop();
    }
    return false;
  } catch {
    return false;
  }
}

/** A zod issue as the client reads it. */
/**
 * The one mistake a currency (a string) the bank does not keep: its own code, as docs/api.md
 * lists it (helper-104: it was `validation_failed`), with the codes it does keep.
 */
function unknownCurrency(
  issues: ReturnType<typeof describeIssues>,
  data: unknown,
): LockstepError | undefined {
  const [only] = issues;
  if (issues.length !== 1 || only?.code !== 'invalid_value' || only.path?.at(-1) !== 'currency') return;
  const given = only.path.reduce<unknown>(
    (value, key) => (value !== null && typeof value === 'object' ? Reflect.get(value, key) : undefined),
    data,
  );
  if (typeof given !== 'string') return;
  const supported = Object.keys(currencies).join(',');
  return new LockstepError(
    'unknown_currency',
    `${only.field}: ${JSON.stringify(given.slice(0, 16))} is not a currency this bank keeps (${supported}).`,
    { field: only.field, supported },
  );
}

interface IssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: IssueLike[][];
  keys?: string[];
}

/**
 * Validation issues as `{ field, message }`, the first the one to fix first. A body that may
 * take several shapes (a union) is explained by the shape it comes closest to: the one with the
 * fewest keys it does not know, then the one with the fewest problems; zod's own answer
 * there is only "Invalid input". A missing field says "required".
 */
export function describeIssues(
  issues: readonly IssueLike[],
  prefix: PropertyKey[] = [],
): Array<{ field: string; message: string; code?: string; path?: PropertyKey[] }> {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors?.length) {
      const strangers = (branch: IssueLike[]) =>
        branch.reduce(
          (count, inner) => count + (inner.code === 'unrecognized_keys' ? (inner.keys?.length ?? 1) : 0),
          0,
        );
      const closest = [...issue.errors].sort(
        (a, b) => strangers(a) - strangers(b) || a.length - b.length,
      )[0] as IssueLike[];
      return describeIssues(closest, path);
    }
    const field = path.length > 0 ? path.map(String).join('.') : 'body';
    const missing = /received undefined$/.exec(issue.message);
    return [
      {
        field,
        code: issue.code,
        path,
        message: missing
          ? `required (${issue.message.replace(/^Invalid input: /, '').replace(/, received undefined$/, '')})`
          : issue.message,
      },
    ];
  });
}
