import {
  awaitsShipment,
  type CurrencyCode,
  currencies,
  deadlineNotice,
  dealIsOff,
  errorCodes,
  type FeeRule,
  isCurrencyCode,
  LockstepError,
  lockPpmFull,
  returnsToPayers,
} from '@lockstep/core';
import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { html } from 'hono/html';
import { secureHeaders } from 'hono/secure-headers';
import { constantTimeEqual, randomToken } from '../../ids.ts';
import { clientSource } from '../client-source.ts';
import type { GatewayEnv } from '../context.ts';
import type { AggregationView, EventView, TemporaryAccountView } from '../schemas.ts';
import { serveAsset } from './widget.ts';

/**
 * The bank's own pages (Drawings 6-10), server-rendered by the gateway. They are a client of
 * the JSON API (every action goes through `/v1/...` with the customer's session), so the rules,
 * validation and idempotency are exactly the API's. Sessions live in `HttpOnly; Secure;
 * SameSite=Strict` cookies; every form carries the session's CSRF token and an idempotency key;
 * the CSP allows only the gateway's own script and style.
 */
const sessionCookie = 'ls_session';
const csrfCookie = 'ls_csrf';
const preLoginCookie = 'ls_prelogin';
/**
 * What a refused menu form held (an amount, a reason), for the page the refusal redirects to:
 * in a short-lived cookie, not the URL, so no link can put its words in the bank's fields and
 * nothing typed lands in a history or a log. Read once and cleared.
 */
const enteredCookie = 'ls_entered';
const cookieOptions = { httpOnly: true, secure: true, sameSite: 'Strict', path: '/bank' } as const;

type PageContext = Context<GatewayEnv>;
type Html = ReturnType<typeof html>;

export function bankPages(app: Hono<GatewayEnv>): void {
  app.use(
    '/bank/*',
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        connectSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      referrerPolicy: 'same-origin',
      xFrameOptions: 'DENY',
    }),
  );
  app.use('/bank/*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    // Defence in depth next to the CSRF token: a cross-site form post is refused outright.
    if (c.req.method === 'POST') {
      // Behind a TLS-terminating proxy the request URL says http: accept the public origin too.
      const origin = c.req.header('origin');
      const own = [new URL(c.req.url).origin, new URL(c.get('gateway').publicUrl).origin];
      if (origin && !own.includes(origin)) return page(c, 'Error: Refused', refusal(), undefined, 403);
    }
    await next();
  });

  app.get('/bank/assets/bank.js', (c) => serveAsset(c, 'bank.js', 'public, max-age=300'));
  app.get('/bank/assets/bank.css', (c) => serveAsset(c, 'bank.css', 'public, max-age=300'));

  // Drawing 6: log in.
  // After a form sent without a live session: it was not carried out, and the page says so
  // (helper-78: an old tab's form led to the login page without a word).
  app.get('/bank/login', (c) =>
    c.req.query('notDone') === '1'
      ? loginPage(c, undefined, 200, 'You were logged out, so nothing was done. Log in and try again.')
      : loginPage(c, undefined, 200, undefined, returnPath(c.req.query('next'))),
  );
  app.post('/bank/login', async (c) => {
    const form = await c.req.parseBody();
    const preLogin = getCookie(c, preLoginCookie);
    if (!preLogin || !constantTimeEqual(String(form.csrf ?? ''), preLogin)) {
      return loginPage(
        c,
        'The form expired. Please log in again.',
        403,
        undefined,
        returnPath(String(form.next ?? '')),
      );
    }
    try {
      const gateway = c.get('gateway');
      const session = await gateway.auth.login(
        String(form.userId ?? ''),
        String(form.password ?? ''),
        clientSource(c, gateway.trustedProxyHops),
      );
      const maxAge = Math.floor((Date.parse(session.expiresAt) - Date.now()) / 1000);
      setCookie(c, sessionCookie, session.token, { ...cookieOptions, maxAge });
      setCookie(c, csrfCookie, session.csrfToken, { ...cookieOptions, maxAge });
      deleteCookie(c, preLoginCookie, { path: '/bank' });
      // Back to the page that asked for the login (the widget's link to a deal, say).
      return c.redirect(returnPath(String(form.next ?? '')) ?? '/bank', 303);
    } catch (error) {
      if (
        error instanceof LockstepError &&
        (error.code === 'login_locked' || error.code === 'rate_limited')
      ) {
        return loginPage(
          c,
          'Too many failed logins. Try again later.',
          429,
          undefined,
          returnPath(String(form.next ?? '')),
        );
      }
      if (error instanceof LockstepError && error.code === 'invalid_credentials') {
        return loginPage(
          c,
          'The user ID or password is wrong.',
          401,
          undefined,
          returnPath(String(form.next ?? '')),
        );
      }
      throw error;
    }
  });

  app.post('/bank/logout', async (c) => {
    const session = await requireSession(c);
    if (session instanceof Response) return session;
    await c.get('gateway').auth.logout(session.token);
    deleteCookie(c, sessionCookie, { path: '/bank' });
    deleteCookie(c, csrfCookie, { path: '/bank' });
    return c.redirect('/bank/login', 303);
  });

  // Drawings 7 and 10: the aggregation, with the temporary accounts column.
  app.get('/bank', async (c) => {
    const session = await requireSession(c);
    if (session instanceof Response) return session;
    const view = await api<AggregationView>(c, session, 'GET', '/v1/accounts');
    if (!view.ok) return failure(c, view.error);
    const { usualAccounts, temporaryAccounts } = view.body;
    return page(
      c,
      titled(c, 'Your accounts'),
      html`<h1>Your accounts</h1>
        ${notice(c)}
        <div class="columns">
          <section aria-labelledby="usual-heading">
            <h2 id="usual-heading">Usual accounts</h2>
            <table>
              <thead><tr><th scope="col">Account</th><th scope="col">Balance</th></tr></thead>
              <tbody>
                ${usualAccounts.map(
                  (account) =>
                    html`<tr data-account="${account.id}">
                      <td>${account.name}<br /><small>${account.id}</small></td>
                      <td class="amount" data-field="usual-balance">${money(account.balanceMinor, account.currency)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
          </section>
          <section aria-labelledby="temporary-heading">
            <h2 id="temporary-heading">Temporary accounts</h2>
            ${
              temporaryAccounts.length === 0
                ? html`<p>No temporary accounts yet.</p>`
                : html`<table>
                    <thead><tr><th scope="col">Code</th><th scope="col">Balance</th><th scope="col">Status</th></tr></thead>
                    <tbody>
                      ${temporaryAccounts.map(
                        (account) =>
                          html`<tr data-code="${account.code}">
                            <td><a href="/bank/temporary-accounts/${account.code}">${account.code}</a></td>
                            <td class="amount">${money(account.balanceMinor, account.currency)}</td>
                            <td>${statusText(account)}</td>
                          </tr>`,
                      )}
                    </tbody>
                  </table>`
            }
            <p><a class="button" href="/bank/temporary-accounts/new">Create a temporary account</a></p>
          </section>
        </div>`,
      session,
    );
  });

  app.post('/bank/temporary-accounts', async (c) => {
    const session = await requireSession(c, true);
    if (session instanceof Response) return session;
    const form = await c.req.parseBody();
    const currency = String(form.currency ?? 'JPY');
    // What was typed comes back in the form after a refusal (with a fresh idempotency key).
    const entered: CreateValues = {
      payeeUserId: String(form.payeeUserId ?? '').slice(0, 64),
      amount: String(form.amount ?? '').slice(0, 64),
      currency,
      fundFrom: String(form.fundFrom ?? ''),
      mode: form.mode === 'fractional' ? 'fractional' : 'deal',
    };
    const amountMinor = isCurrencyCode(currency)
      ? majorToMinor(String(form.amount ?? ''), currency)
      : undefined;
    if (amountMinor === undefined) {
      return createPage(
        c,
        session,
        {
          message: 'Enter an amount such as 10500 (or 12.34 in a currency with cents).',
          field: 'amount',
        },
        400,
        entered,
      );
    }
    const created = await api<TemporaryAccountView>(
      c,
      session,
      'POST',
      '/v1/temporary-accounts',
      {
        payeeUserId: String(form.payeeUserId ?? ''),
        amountMinor,
        currency,
        ...(form.fundFrom ? { fundFrom: String(form.fundFrom) } : {}),
        ...(entered.mode === 'fractional' ? { mode: 'fractional' } : {}),
      },
      String(form.idempotencyKey ?? ''),
    );
    if (!created.ok) {
      const field = payeeErrors.has(created.error.code)
        ? 'payeeUserId'
        : amountErrors.has(created.error.code)
          ? 'amount'
          : undefined;
      return createPage(c, session, { message: created.error.message, field }, created.status, entered);
    }
    return c.redirect(
      `/bank/temporary-accounts/${encodeURIComponent(created.body.code)}?notice=${created.body.status === 'funded' ? 'created' : 'createdAwaiting'}`,
      303,
    );
  });

  // Drawing 9: the status of a temporary account, with its menu; live through SSE.
  // Drawing 8 (`/bank/temporary-accounts/new`, a payee ID and an amount) shares the route:
  // a static segment beside `:code` would cost the whole app Hono's fastest router.
  app.get('/bank/temporary-accounts/:code', async (c) => {
    const session = await requireSession(c);
    if (session instanceof Response) return session;
    const code = c.req.param('code');
    if (code === 'new') return createPage(c, session);
    const path = `/v1/temporary-accounts/${encodeURIComponent(code)}`;
    const account = await api<TemporaryAccountView>(c, session, 'GET', path);
    if (!account.ok) return failure(c, account.error, account.status);
    const events = await api<{ data: EventView[] }>(c, session, 'GET', `${path}/events?limit=200`);
    // Money moves in and out of a temporary account through a usual account in its currency:
    // without one, the pay-in form answered 404 and said nothing of a remittance (helper-64).
    const accounts = await api<AggregationView>(c, session, 'GET', '/v1/accounts');
    const hasUsual =
      !accounts.ok || accounts.body.usualAccounts.some((usual) => usual.currency === account.body.currency);
    return statusPage(
      c,
      session,
      account.body,
      events.ok ? events.body.data : [],
      refusedForm(c, code),
      hasUsual,
    );
  });

  app.get('/bank/temporary-accounts/:code/stream', async (c) => {
    const session = await requireSession(c);
    if (session instanceof Response) return session;
    const code = encodeURIComponent(c.req.param('code'));
    return c.get('gateway').app.request(`/v1/temporary-accounts/${code}/stream`, {
      headers: {
        authorization: `Bearer ${session.token}`,
        // The API call is part of this request: one id in the logs and in the answer.
        'x-request-id': c.get('requestId'),
        ...(c.req.header('last-event-id')
          ? { 'last-event-id': c.req.header('last-event-id') as string }
          : {}),
      },
      signal: c.req.raw.signal,
    });
  });

  const actions = [
    'deposit',
    'withdraw',
    'lock',
    'unlock',
    'ship',
    'accept',
    'reject',
    'dissolve',
    'cancel',
  ] as const;
  app.post('/bank/temporary-accounts/:code/:action', async (c) => {
    const session = await requireSession(c, true);
    if (session instanceof Response) return session;
    const action = c.req.param('action') as (typeof actions)[number];
    if (!actions.includes(action)) return failure(c, { code: 'not_found', message: 'No such action.' }, 404);
    const code = c.req.param('code');
    const form = await c.req.parseBody();
    const path = `/v1/temporary-accounts/${encodeURIComponent(code)}`;
    let body: Record<string, unknown> = {};
    if (action === 'deposit' || action === 'withdraw') {
      const current = await api<TemporaryAccountView>(c, session, 'GET', path);
      if (!current.ok) return failure(c, current.error, current.status);
      const text = String(form.amount ?? '').trim();
      const amountMinor =
        text === '' && action === 'withdraw' ? undefined : majorToMinor(text, current.body.currency);
      if (amountMinor === undefined && !(text === '' && action === 'withdraw')) {
        keepEntered(c, code, action, form);
        return c.redirect(
          `/bank/temporary-accounts/${encodeURIComponent(code)}?error=invalid_amount&form=${action}`,
          303,
        );
      }
      body = amountMinor === undefined ? {} : { amountMinor };
    }
    if (action === 'lock' && form.share) {
      const share = String(form.share).trim();
      // A share of 0 is no lock (Unlock is): the API took it and the page said "Your lock is on."
      if (share !== '' && Number(share) === 0) {
        keepEntered(c, code, action, form);
        return c.redirect(
          `/bank/temporary-accounts/${encodeURIComponent(code)}?error=invalid_lock_share&form=lock`,
          303,
        );
      }
      if (share !== '') body = { share };
    }
    // Neither can be undone: the form's tick is checked here too, not only by the browser.
    if ((action === 'dissolve' || action === 'cancel') && form.confirm !== 'yes') {
      return c.redirect(`/bank/temporary-accounts/${encodeURIComponent(code)}?error=not_confirmed`, 303);
    }
    if (action === 'reject' && form.reason) body = { reason: String(form.reason) };
    if (action === 'ship') {
      body = {
        carrier: String(form.carrier ?? '').trim(),
        trackingNumber: String(form.trackingNumber ?? '').trim(),
      };
    }
    const result = await api(
      c,
      session,
      'POST',
      `${path}/${action}`,
      body,
      String(form.idempotencyKey ?? ''),
    );
    let query = result.ok ? `notice=${action}` : `error=${encodeURIComponent(result.error.code)}`;
    // A refused form with fields gets them back, marked (the page names the form: `form=`).
    if (!result.ok && fieldForms.has(action)) {
      keepEntered(c, code, action, form);
      query += `&form=${action}`;
    }
    // The code as sent may hold anything (a CR LF made building the Location header fail).
    return c.redirect(`/bank/temporary-accounts/${encodeURIComponent(code)}?${query}`, 303);
  });
}

// --- sessions -----------------------------------------------------------------------------------

interface PageSession {
  token: string;
  csrfToken: string;
  customerId: string;
}

/** The cookie session, or a redirect to the login page. With `csrf`, also checks the form token. */
async function requireSession(
  c: PageContext,
  csrf = c.req.method === 'POST',
): Promise<PageSession | Response> {
  const token = getCookie(c, sessionCookie);
  const csrfToken = getCookie(c, csrfCookie) ?? '';
  // A form sent without a live session was not carried out: the login page says so.
  const next = returnPath(c.req.path);
  const toLogin = () =>
    c.redirect(
      c.req.method === 'POST'
        ? '/bank/login?notDone=1'
        : `/bank/login${next && next !== '/bank' ? `?next=${encodeURIComponent(next)}` : ''}`,
      303,
    );
  if (!token) return toLogin();
  const { auth } = c.get('gateway');
  try {
    const { session, principal } = await auth.session(token);
    if (csrf) {
      const form = await c.req.parseBody();
      auth.checkCsrf(session, String(form.csrf ?? ''));
    }
    return { token, csrfToken, customerId: principal.customerId };
  } catch (error) {
    if (error instanceof LockstepError && error.code === 'csrf_failed') {
      return page(c, 'Error: Refused', refusal(), undefined, 403);
    }
    deleteCookie(c, sessionCookie, { path: '/bank' });
    return toLogin();
  }
}

async function api<T>(
  c: PageContext,
  session: PageSession,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  idempotencyKey?: string,
): Promise<{ ok: true; body: T } | { ok: false; status: 400; error: { code: string; message: string } }> {
  const response = await c.get('gateway').app.request(path, {
    method,
    headers: {
      authorization: `Bearer ${session.token}`,
      'x-request-id': c.get('requestId'),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (response.ok) return { ok: true, body: payload as T };
  return { ok: false, status: response.status as 400, error: payload.error };
}

// --- refusals -----------------------------------------------------------------------------------

/** The menu forms with fields to give back after a refusal. */
const fieldForms = new Set(['deposit', 'withdraw', 'reject', 'ship', 'lock']);
/** Refusals about the amount typed (its field is marked), and about the payee ID. */
const amountErrors = new Set([
  'invalid_amount',
  'amount_out_of_range',
  'exceeds_movable_amount',
  'exceeds_amount_due',
  'insufficient_funds',
]);
const payeeErrors = new Set(['unknown_party', 'duplicate_party']);

interface RefusedForm {
  form: string;
  /** The field the refusal is about, marked aria-invalid and described by the message. */
  field?: EnteredField;
  amount?: string;
  reason?: string;
  carrier?: string;
  trackingNumber?: string;
  share?: string;
}

/** The menu forms' fields given back after a refusal. */
type EnteredField = 'amount' | 'reason' | 'carrier' | 'trackingNumber' | 'share';
/** Each field's longest kept value (the API's own limits). */
const enteredMax: Record<EnteredField, number> = {
  amount: 64,
  reason: 500,
  carrier: 64,
  trackingNumber: 128,
  share: 10,
};

/** Remembers what a refused menu form held, for the page the redirect leads to (one read). */
function keepEntered(c: PageContext, code: string, action: string, form: Record<string, unknown>) {
  const entered = {
    code: code.slice(0, 64),
    form: action,
    ...Object.fromEntries(
      (Object.keys(enteredMax) as EnteredField[]).flatMap((field) => {
        const value = form[field];
        return typeof value === 'string' ? [[field, value.slice(0, enteredMax[field])]] : [];
      }),
    ),
  };
  let value = JSON.stringify(entered);
  // Browsers drop a cookie over 4 KB: 500 characters of Japanese are 4,500 once encoded.
  if (encodeURIComponent(value).length > 3_000) value = JSON.stringify({ ...entered, reason: undefined });
  setCookie(c, enteredCookie, value, { ...cookieOptions, maxAge: 120 });
}

/**
 * The refused form of this page (`?error=…&form=…`), with what it held when the refusal came
 * straight from its post; a link may name the form (marking a field), never fill it.
 */
function refusedForm(c: PageContext, code: string): RefusedForm | undefined {
  let entered: Record<string, unknown> = {};
  const cookie = getCookie(c, enteredCookie);
  if (cookie !== undefined) {
    deleteCookie(c, enteredCookie, { path: '/bank' });
    try {
      entered = JSON.parse(cookie);
    } catch {}
  }
  const error = c.req.query('error');
  const form = c.req.query('form');
  if (!error || !form || !fieldForms.has(form)) return undefined;
  const field =
    form === 'reject'
      ? error === 'validation_failed'
        ? 'reason'
        : undefined
      : form === 'ship'
        ? undefined
        : form === 'lock'
          ? error === 'invalid_lock_share'
            ? 'share'
            : undefined
          : amountErrors.has(error)
            ? 'amount'
            : undefined;
  const mine = entered.code === code && entered.form === form;
  return {
    form,
    ...(field ? { field } : {}),
    ...(mine
      ? Object.fromEntries(
          (Object.keys(enteredMax) as EnteredField[]).flatMap((name) =>
            typeof entered[name] === 'string' ? [[name, entered[name]]] : [],
          ),
        )
      : {}),
  };
}

/** A page's title, "Error: …" first when it shows a refusal (the first thing a screen reader says). */
function titled(c: PageContext, title: string): string {
  return c.req.query('error') ? `Error: ${title}` : title;
}

/** The page's refusal: focused by the client script on load, and the description of its field. */
function alertBox(content: Html | string) {
  return html`<p class="alert" role="alert" id="page-error" tabindex="-1">${content}</p>`;
}

/** aria-invalid and aria-describedby for a field the refusal is about (plus its own hints). */
function invalidity(invalid: boolean, hints: string[] = []) {
  const describedBy = [...hints, ...(invalid ? ['page-error'] : [])].join(' ');
  return html`${invalid ? html` aria-invalid="true"` : ''}${describedBy ? html` aria-describedby="${describedBy}"` : ''}`;
}

// --- pages --------------------------------------------------------------------------------------

/**
 * A page of the bank's own to return to after the login: a path under /bank only (never another
 * site, never `//host`), else none.
 */
function returnPath(value: string | undefined): string | undefined {
  return value && /^\/bank(\/[A-Za-z0-9_-]+)*$/.test(value) && value !== '/bank/login' ? value : undefined;
}

function loginPage(
  c: PageContext,
  problem?: string,
  status: 200 | 401 | 403 | 429 = 200,
  note?: string,
  next?: string,
) {
  const preLogin = randomToken(24);
  setCookie(c, preLoginCookie, preLogin, { ...cookieOptions, maxAge: 3600 });
  return page(
    c,
    problem ? 'Error: Log in' : 'Log in',
    html`<h1 id="login-heading">Log in to your bank</h1>
      ${problem ? alertBox(problem) : ''}
      ${note ? html`<p class="notice" role="status">${note}</p>` : ''}
      <form method="post" action="/bank/login" class="stack" aria-labelledby="login-heading">
        <input type="hidden" name="csrf" value="${preLogin}" />
        ${next ? html`<input type="hidden" name="next" value="${next}" />` : ''}
        <label for="userId">User ID</label>
        <input id="userId" name="userId" autocomplete="username" required maxlength="64" ${problem ? '' : 'autofocus'} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256" />
        <button type="submit">Log in</button>
      </form>`,
    undefined,
    status,
  );
}

/**
 * The currencies the customer can fund a deal in: those of its usual accounts (a JPY-only
 * customer was offered USD, and the funding was refused: helper-46's review); all of them for a
 * customer without one (the deal then awaits a pay-in).
 */
function offeredCurrencies(usual: Array<{ currency: string }>): string[] {
  const held = [...new Set(usual.map((account) => account.currency))];
  return held.length > 0 ? held : Object.keys(currencies);
}

interface CreateValues {
  payeeUserId: string;
  amount: string;
  currency: string;
  fundFrom: string;
  mode: 'deal' | 'fractional';
}

async function createPage(
  c: PageContext,
  session: PageSession,
  problem?: { message: string; field?: 'payeeUserId' | 'amount' | undefined },
  status = 200,
  entered?: CreateValues,
) {
  const view = await api<AggregationView>(c, session, 'GET', '/v1/accounts');
  const usual = view.ok ? view.body.usualAccounts : [];
  const offered = offeredCurrencies(usual);
  const currency = entered && offered.includes(entered.currency) ? entered.currency : offered[0];
  return page(
    c,
    problem ? 'Error: Create a temporary account' : 'Create a temporary account',
    html`<h1 id="create-heading">Create a temporary account</h1>
      ${problem ? alertBox(problem.message) : ''}
      <form method="post" action="/bank/temporary-accounts" class="stack" aria-labelledby="create-heading" data-guarded>
        ${formTokens(session)}
        <label for="payeeUserId">Payee ID</label>
        <input id="payeeUserId" name="payeeUserId" required maxlength="64" value="${entered?.payeeUserId ?? ''}"${invalidity(problem?.field === 'payeeUserId')} />
        <label for="amount">Amount</label>
        <input id="amount" name="amount" inputmode="decimal" required value="${entered?.amount ?? ''}"${invalidity(problem?.field === 'amount', ['amount-hint'])} />
        <p class="hint" id="amount-hint">Digits, with or without thousands commas: 10500 or 10,500 (12.34 in a currency with cents).</p>
        <label for="currency">Currency</label>
        <select id="currency" name="currency">
          ${offered.map((code) => html`<option ${code === currency ? 'selected' : ''}>${code}</option>`)}
        </select>
        <label for="fundFrom">Fund from</label>
        <select id="fundFrom" name="fundFrom">
          ${usual.map(
            (account) =>
              html`<option value="${account.id}" ${account.id === entered?.fundFrom ? 'selected' : ''}>${account.name} (${money(account.balanceMinor, account.currency)})</option>`,
          )}
        </select>
        <fieldset>
          <legend>Kind of account</legend>
          <label><input type="radio" name="mode" value="deal" ${entered?.mode !== 'fractional' ? 'checked' : ''} /> A deal: whole locks; it closes once the payee is paid</label>
          <label><input type="radio" name="mode" value="fractional" ${entered?.mode === 'fractional' ? 'checked' : ''} /> A standing account: a lock may hold a share (0.3); it lives until it is empty</label>
        </fieldset>
        ${creationFeeNote(c, offered)}
        <button type="submit">Create and fund</button>
      </form>
      <p><a href="/bank">Back to your accounts</a></p>`,
    session,
    status,
  );
}

/** The deal's deadline or dispute as the bank's page says it (docs/api.md, Deadlines). */
function deadlineText(account: TemporaryAccountView): string {
  const notice = deadlineNotice(account);
  switch (notice?.kind) {
    case 'payBy':
      return `To be paid up by ${utcText(notice.at)}, or it takes no more money and what was paid in goes back to who paid it`;
    case 'payMissed':
      return 'Not paid up in time: it takes no more money, and what was paid in goes back to who paid it';
    case 'cancelled':
      return 'Cancelled by the seller before shipping: it takes no more money, and what was paid in goes back to who paid it';
    case 'dispute':
      return `Dispute decided by the bank for the ${notice.resolvedFor}`;
    case 'shipMissed':
      return 'The seller missed its shipping deadline: its lock is off';
    case 'shipBy':
      return `The seller ships by ${utcText(notice.at)}`;
    case 'verdictBy':
      return `The buyer releases or reports by ${utcText(notice.at)}; silence releases the payment`;
    case 'memberLocksBy':
      return `The buyer released the payment; a member's lock holds it until ${utcText(notice.at)} at the latest`;
    default:
      return '—';
  }
}

/**
 * Drawing 9. The live script (client/bank.ts) swaps only `#status` (the facts and the locks,
 * no controls), the history and whatever changed of the menu; none of them is a live region:
 * `#live-summary` announces a short line of what changed (the accessibility review: the
 * whole page, menu included, was an aria-live region re-read and rebuilt on every event).
 */
function statusPage(
  c: PageContext,
  session: PageSession,
  account: TemporaryAccountView,
  events: EventView[],
  refused?: RefusedForm,
  hasUsual = true,
) {
  const me = account.parties.find((party) => party.customerId === session.customerId);
  const isBuyer = me?.role === 'buyer';
  const open = account.status !== 'dissolved';
  /** What a refused form held, given back, and its field marked. */
  const entered = (form: string, field: EnteredField) =>
    refused?.form === form ? (refused[field] ?? '') : '';
  // One aria-describedby with the field's own hint and the error: a second attribute was
  // dropped by the browser, so a refused amount lost its hint or its error.
  const invalid = (form: string, field: EnteredField, hints: string[] = []) =>
    invalidity(refused?.form === form && refused.field === field, hints);
  // A deal takes what it still needs and no more: to its buyer (or a member paying for it) the
  // pay-in form offers that amount, never to the seller (one click paid the buyer's debt with
  // the seller's money), and a deal that needs nothing has no pay-in form (helper-63's review).
  const dueMinor = account.amountDueMinor;
  // Why the money is the buyer's to take back, if it is: the Withdraw form says so (helper-89).
  const refund = refundReason(account, me?.role);
  const payer = me?.role === 'buyer' || me?.role === 'member';
  // The seller does not pay into a deal (it is refused: helper-66's review), so it gets no form.
  const mayPayIn = dueMinor !== 0 && !(account.mode === 'deal' && me?.role === 'seller');
  const payInAmount =
    entered('deposit', 'amount') || (payer && dueMinor ? plainAmount(dueMinor, account.currency) : '');
  // The creation fee still due leaves the payer's usual account with its pay-in: said beside
  // the amount, with the total for the amount offered (helper-86: the form offered the amount
  // due alone, and a buyer holding that but not the fee was refused without a word on the fee).
  const payInFee =
    payer && account.creationFeeDueMinor > 0
      ? html`<p class="hint" id="deposit-fee">The bank's fee of ${money(account.creationFeeDueMinor, account.currency)} is charged to your usual account with this pay-in${
          dueMinor
            ? html`: ${money(dueMinor + account.creationFeeDueMinor, account.currency)} in all for ${money(dueMinor, account.currency)}`
            : ''
        }.</p>`
      : '';
  return page(
    c,
    titled(c, `Temporary account ${account.code}`),
    html`<h1>Temporary account <code>${account.code}</code></h1>
      ${notice(c)}
      <p id="live-summary" class="visually-hidden" role="status" aria-live="polite" aria-atomic="true"></p>
      <div id="status" data-stream="/bank/temporary-accounts/${account.code}/stream">
        <dl class="facts">
          <dt>Status</dt><dd data-field="status">${statusText(account)}</dd>
          <dt>Balance</dt><dd class="amount" data-field="balance">${money(account.balanceMinor, account.currency)}</dd>
          <dt>Required amount</dt><dd class="amount">${money(account.requiredMinor, account.currency)}</dd>
          <dt>Shipment</dt>
          <dd data-field="shipment">
            ${account.shipment ? `${account.shipment.carrier}, tracking ${account.shipment.trackingNumber}` : 'Not shipped'}
          </dd>
          <dt>Verdict</dt><dd data-field="verdict">${account.verdict ?? '—'}</dd>
          <dt>Deadline</dt><dd data-field="deadline">${deadlineText(account)}</dd>
          <dt>You may move out</dt><dd class="amount">${money(account.movableMinor, account.currency)}</dd>
        </dl>
        <h2>Parties and locks</h2>
        <table class="parties">
          <thead><tr><th scope="col">Party</th><th scope="col">Role</th><th scope="col">Lock</th><th scope="col">Group</th></tr></thead>
          <tbody>
            ${account.parties.map(
              (party) =>
                html`<tr data-party="${party.role}">
                  <td>${party.displayName}${party.customerId === session.customerId ? ' (you)' : ''}</td>
                  <td>${party.role}</td>
                  <td data-field="lock">${
                    // A closed account holds nothing: its last locks read "on (1)" (helper-78).
                    account.status === 'dissolved' ? '— (closed)' : lockText(party, account)
                  }</td>
                  <td>${party.group ?? '—'}</td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
      <section aria-labelledby="history-heading">
        <h2 id="history-heading">History</h2>
        <ol class="history" id="history">
          ${events.map((event) => html`<li data-event="${event.type}">${historyLine(event, account.currency)}</li>`)}
        </ol>
      </section>
      <section id="menu" aria-labelledby="menu-heading">
        <h2 id="menu-heading" tabindex="-1">Menu</h2>
      ${
        open
          ? html`<div class="menu">
                ${
                  !mayPayIn
                    ? ''
                    : !hasUsual
                      ? noUsualPayIn(account, me?.role)
                      : actionForm(
                          session,
                          account.code,
                          'deposit',
                          'Pay in',
                          html`<label for="deposit-amount">Amount</label>
                  <input id="deposit-amount" name="amount" inputmode="decimal" required value="${payInAmount}"${invalid('deposit', 'amount', payInFee ? ['deposit-fee'] : [])} />
                  ${payInFee}`,
                        )
                }
                ${
                  // Nothing to take from an empty account; a locked one still offers it, and its
                  // refusal names the lock (the move rule, Drawing 5). On a deal that is off,
                  // nothing is the seller's or a member's to take but its own pay-ins
                  // (helper-87: Withdraw was offered and refused; helper-88: so was the hint).
                  account.balanceMinor === 0 || (returnsToPayers(account) && account.movableMinor === 0)
                    ? ''
                    : !hasUsual
                      ? html`<p class="hint" id="no-usual-withdraw">Money leaves a temporary account only to a usual account in ${account.currency}: ask the bank to open one for you, then withdraw here.</p>`
                      : actionForm(
                          session,
                          account.code,
                          'withdraw',
                          // The widget sends the buyer of a deal that is off to "take back" what it
                          // paid in: the button says the same (helper-86), as to a member taking
                          // back its own pay-ins.
                          (me?.role === 'buyer' && dealIsOff(account)) ||
                            (me?.role === 'member' && returnsToPayers(account))
                            ? 'Take back what you paid in'
                            : refund
                              ? 'Take your money back'
                              : 'Withdraw',
                          html`${refund ? html`<p class="hint" id="refund-ready">${refund}: the money is yours to take back.</p>` : ''}<label for="withdraw-amount">Amount (empty: all you may)</label>
                        <input id="withdraw-amount" name="amount" inputmode="decimal" value="${entered('withdraw', 'amount')}"${invalid('withdraw', 'amount', refund ? ['refund-ready'] : [])} />
                        ${withdrawalFeeNote(c, account, me?.role)}`,
                        )
                }
                ${
                  // A buyer's lock on a deal that is off (cancelled, or not paid up in time)
                  // holds nothing back from it: what it holds is the buyer's to take, so neither
                  // Unlock (helper-85) nor Lock (helper-87) is offered.
                  me?.role === 'buyer' && returnsToPayers(account)
                    ? ''
                    : me && me.lockPpm > 0
                      ? actionForm(
                          session,
                          account.code,
                          'unlock',
                          'Unlock (turn my lock off)',
                          unlockHint(account, me.role),
                        )
                      : // A lock the API would refuse is not offered (helper-46's review).
                        account.mayLock
                        ? actionForm(
                            session,
                            account.code,
                            'lock',
                            'Lock (turn my lock on)',
                            // A fractional account takes a share (rule 4); a deal's locks are whole.
                            account.mode === 'fractional'
                              ? html`<label for="share">Share to hold (empty: all; 0.3 holds 30%)</label>
                        <input id="share" name="share" inputmode="decimal" maxlength="10" value="${entered('lock', 'share')}"${invalid('lock', 'share')} />`
                              : '',
                          )
                        : ''
                }
                ${
                  // A seller that is a plain customer (a deal opened with its user ID) ships here:
                  // the buyer releases only once it has (helper-77's review: no way but the API).
                  // The API's own answer (core shipRefused): not past the ship deadline (helper-91).
                  account.mode === 'deal' && account.mayShip
                    ? actionForm(
                        session,
                        account.code,
                        'ship',
                        'Mark shipped',
                        html`<label for="carrier">Carrier (or how it was delivered)</label>
                        <input id="carrier" name="carrier" maxlength="64" required value="${entered('ship', 'carrier')}" />
                        <label for="tracking-number">Tracking number (or a reference)</label>
                        <input id="tracking-number" name="trackingNumber" maxlength="128" required value="${entered('ship', 'trackingNumber')}" />`,
                      )
                    : ''
                }
                ${
                  // Not on a deal whose money goes back to its payers (past its ship deadline): the
                  // API refuses a verdict there (helper-98: a report reopened the locks).
                  isBuyer &&
                  account.verdict === null &&
                  account.status === 'funded' &&
                  !returnsToPayers(account)
                    ? html`${
                        // Released once shipped (the API says not_shipped before).
                        !awaitsShipment(account)
                          ? actionForm(session, account.code, 'accept', 'Release payment (goods received)')
                          : html`<p class="hint" id="release-after-shipping">You can release the payment once the seller has shipped.</p>`
                      }
                      ${actionForm(
                        session,
                        account.code,
                        'reject',
                        'Report a problem',
                        html`<label for="reason">Reason</label>
                        <input id="reason" name="reason" maxlength="500" value="${entered('reject', 'reason')}"${invalid('reject', 'reason')} />`,
                      )}`
                    : ''
                }
                ${
                  // A seller that is a plain customer cancels a deal not shipped here, as a shop
                  // does through the API (helper-87: the pages had no way).
                  // The API's own answer (core cancelRefused), not the page's copy of its rules:
                  // a copy offered Cancel to a seller holding an advance (helper-88).
                  account.mayCancel
                    ? actionForm(
                        session,
                        account.code,
                        'cancel',
                        'Cancel this deal',
                        html`<p class="hint" id="cancel-hint">Cancelling calls the deal off for good: it takes no more money, your lock comes off, and what was paid in goes back to who paid it (the buyer, or a member its own), with the bank's creation fee.</p>
                        <label><input type="checkbox" name="confirm" value="yes" required aria-describedby="cancel-hint" /> Yes, cancel it</label>`,
                      )
                    : ''
                }
                ${
                  // An empty account (one created for more than the usual account held, say)
                  // can be closed here; the API allowed it, the pages did not (helper-78).
                  // The buyer's to close only: a seller or a member closing it left the buyer's
                  // transfer refused (helper-79's review; the API lets any party).
                  // Closing cannot be undone, and for a shop's order it cancels the order: said
                  // first, and confirmed by a tick the bank checks (helper-81).
                  me?.role === 'buyer' && account.balanceMinor === 0
                    ? actionForm(
                        session,
                        account.code,
                        'dissolve',
                        'Close this empty account',
                        html`<p class="hint" id="dissolve-hint">${
                          account.invoiceId
                            ? 'Closing it cancels this deal for good: the shop is told, and its invoice cannot be paid again (the shop would issue a new one).'
                            : 'Closing it ends this deal for good: nothing more can be paid into it.'
                        }</p>
                        <label><input type="checkbox" name="confirm" value="yes" required aria-describedby="dissolve-hint" /> Yes, close it</label>`,
                      )
                    : ''
                }
              </div>`
          : html`<p>This temporary account is dissolved; its code is never reused.</p>`
      }
      </section>
      <p><a href="/bank">Back to your accounts</a></p>`,
    session,
  );
}

/**
 * What each event is called in the history (the API's event names, `deal.accepted`, were shown
 * as they are: helper notes carried since the bank pages were built). `data-event` keeps the
 * name for scripts and tests.
 */
const eventLabels: Record<EventView['type'], string> = {
  'account.created': 'Account opened',
  'account.deposited': 'Paid in',
  'account.funded': 'Fully paid up',
  'lock.changed': 'Lock changed',
  'deadline.set': 'Deadline set',
  'funds.checked': 'Funds checked by the seller',
  'account.shipped': 'Shipped',
  'deal.accepted': 'Payment released',
  'deal.rejected': 'Problem reported',
  'deal.cancelled': 'Cancelled by the seller',
  'deadline.passed': 'Deadline passed',
  'dispute.resolved': 'Dispute decided',
  'account.withdrawn': 'Taken out',
  'account.dissolved': 'Account closed',
};

/** An instant as the pages say it, "2026-12-13 05:00 UTC" (the API's ISO text, to the minute). */
function utcText(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}

/** One history line: when, what, how much, and the bank's fee where one was charged. */
function historyLine(event: EventView, currency: string) {
  const amount =
    typeof event.data.amountMinor === 'number' ? ` ${money(event.data.amountMinor, currency)}` : '';
  const fee =
    typeof event.data.feeMinor === 'number' && event.data.feeMinor > 0
      ? html` <span data-field="fee">(bank fee ${money(event.data.feeMinor, currency)})</span>`
      : '';
  return html`<time datetime="${event.at}">${utcText(event.at)}</time> ${eventLabels[event.type] ?? event.type}${amount}${fee}${eventDetail(event, currency)}`;
}

/**
 * What turning one's lock off does in a deal, said beside the button: it moves no money itself,
 * but lets the others take it (helper-78: a seller refunding saw a bare "Unlock", and a buyer in
 * a dispute was offered it with no word).
 */
function unlockHint(account: TemporaryAccountView, role: string) {
  // Funded or holding a part-payment: either way the money could go (helper-79's review).
  if (account.mode !== 'deal' || account.balanceMinor === 0) return '';
  // Another party's lock (a member's) may still hold the money: said as a condition.
  const others = account.parties.some((party) => party.role === 'member')
    ? " once no other party's lock holds it"
    : '';
  if (role === 'seller' && account.verdict === 'rejected' && !account.dispute) {
    return html`<p class="hint" id="unlock-hint">The buyer reported a problem: with your lock off, the buyer can take the money back${others} (a refund).</p>`;
  }
  if (refundReason(account, role)) {
    return html`<p class="hint" id="unlock-hint">The money is yours to take back: with your lock off, the seller could take it instead${others}.</p>`;
  }
  if (role === 'buyer') {
    return html`<p class="hint" id="unlock-hint">With your lock off, the seller can take the money${others}${account.shipment ? '' : ', shipped or not'}.</p>`;
  }
  return '';
}

/**
 * The buyer's money is its own to take back, as the widget tells it ("take your money back at
 * your bank"): the seller released its lock after the buyer reported a problem, the bank decided
 * the dispute for the buyer, or the seller missed its ship deadline. The page said a bare
 * "Withdraw" beside "Unlock", whose hint said the seller could then take the money (helper-89).
 * Says why, for the buyer `role` only; null when it is not so on its face.
 */
function refundReason(account: TemporaryAccountView, role: string | undefined): string | null {
  const open =
    role === 'buyer' &&
    account.mode === 'deal' &&
    account.status !== 'dissolved' &&
    account.movableMinor > 0 &&
    !dealIsOff(account);
  if (!open) return null;
  if (account.dispute?.resolvedFor === 'buyer') return 'The bank decided the dispute for you';
  // After a verdict for the seller or the buyer's own acceptance, it is not a refund (a late
  // shipment an older release recorded is shipped: helper-91).
  if (account.dispute || account.verdict === 'accepted') return null;
  if (account.verdict === 'rejected') return 'The seller released its lock';
  if (account.deadlines.shipMissed && !account.shipment) return 'The seller missed its shipping deadline';
  return null;
}

/** What a history line needs to be read: whose lock, why a problem was reported, what shipped. */
function eventDetail(event: EventView, currency: string): string {
  const data = event.data;
  if (event.type === 'lock.changed' && typeof data.role === 'string') {
    return ` (${data.role}'s lock ${Number(data.lockPpm) > 0 ? 'on' : 'off'})`;
  }
  if (event.type === 'deal.rejected' && typeof data.reason === 'string' && data.reason) {
    return `: "${data.reason}"`;
  }
  if (event.type === 'account.shipped' && typeof data.carrier === 'string') {
    return ` (${data.carrier}, ${String(data.trackingNumber ?? '')})`;
  }
  // Who decided, and why (helper-89: "deal.accepted" read as the buyer's release when the
  // deadline accepted it, and the bank's reason for its decision was shown nowhere).
  if (event.type === 'deal.accepted' && data.byDeadline === true) {
    return ' (by the bank: the buyer gave no verdict by the deadline)';
  }
  if (event.type === 'dispute.resolved' && typeof data.for === 'string') {
    return ` (for the ${data.for}${typeof data.reason === 'string' && data.reason ? `: "${data.reason}"` : ''})`;
  }
  if (event.type === 'deadline.passed' && typeof data.deadline === 'string') {
    return ` (${data.deadline} deadline)`;
  }
  if (event.type === 'deadline.set' && typeof data.deadline === 'string' && typeof data.dueAt === 'string') {
    return ` (${data.deadline} by ${utcText(data.dueAt)})`;
  }
  if (event.type === 'deal.cancelled' && Number(data.feeRefundedMinor) > 0) {
    return ` (the bank's creation fee of ${money(Number(data.feeRefundedMinor), currency)} given back into it)`;
  }
  return '';
}

function actionForm(
  session: PageSession,
  code: string,
  action: string,
  label: string,
  fields: Html | string = '',
) {
  // Named by its button: a screen reader's list of forms reads "Pay in", "Withdraw", … (not
  // five unnamed forms with fields all called "Amount").
  return html`<form method="post" action="/bank/temporary-accounts/${code}/${action}" class="stack" data-action="${action}" aria-labelledby="${action}-button" data-guarded>
    ${formTokens(session)} ${fields}
    <button type="submit" id="${action}-button">${label}</button>
  </form>`;
}

/** The CSRF token of the session and a fresh idempotency key: a form submitted twice applies once. */
function formTokens(session: PageSession) {
  return html`<input type="hidden" name="csrf" value="${session.csrfToken}" />
    <input type="hidden" name="idempotencyKey" value="page-${randomToken(16)}" />`;
}

function page(c: PageContext, title: string, body: Html, session?: PageSession, status = 200) {
  return c.html(
    html`<!doctype html>
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>${title} · Lockstep Bank</title>
          <link rel="stylesheet" href="/bank/assets/bank.css" />
          <script src="/bank/assets/bank.js" defer></script>
        </head>
        <body>
          <header>
            <a href="/bank" class="brand">Lockstep Bank</a>
            ${
              session
                ? html`<form method="post" action="/bank/logout" aria-labelledby="logout-button">
                    <input type="hidden" name="csrf" value="${session.csrfToken}" />
                    <button type="submit" class="link" id="logout-button">Log out</button>
                  </form>`
                : ''
            }
          </header>
          <main>${body}</main>
        </body>
      </html>`,
    status as 200,
  );
}

const notices: Record<string, string> = {
  created: 'The temporary account was created and funded.',
  // Not funded (the usual account did not hold the amount and the fee): it says so.
  createdAwaiting: 'The temporary account was created; it awaits your pay-in.',
  deposit: 'Paid in.',
  withdraw: 'Withdrawn to your usual account.',
  lock: 'Your lock is on.',
  unlock: 'Your lock is off.',
  ship: 'Marked shipped: the buyer can release the payment now.',
  dissolve: 'The empty account is closed.',
  cancel: 'The deal is off: it takes no more money, and what was paid in goes back to who paid it.',
  accept: 'You released the payment.',
  reject: 'You reported a problem; your lock stays on.',
};

function notice(c: PageContext) {
  const done = c.req.query('notice');
  const error = c.req.query('error');
  // Only known codes are shown: a link cannot put its own words on the bank's page. Own keys
  // only: `constructor` or `toString` are not codes (helper-42's review).
  if (done && Object.hasOwn(notices, done)) return html`<p class="notice" role="status">${notices[done]}</p>`;
  if (error && Object.hasOwn(errorTexts, error)) {
    return alertBox(html`Refused: ${errorTexts[error]} (<code>${error}</code>)`);
  }
  // Any other code of the catalogue is named (a link cannot put its own words here).
  if (error && (errorCodes as readonly string[]).includes(error)) {
    return alertBox(html`The bank refused this (<code>${error}</code>).`);
  }
  if (error) return alertBox('The bank refused this.');
  return '';
}

const errorTexts: Record<string, string> = {
  not_confirmed: 'tick the box to confirm',
  locked_by_other_party: "another party's lock is on",
  exceeds_movable_amount:
    'more than you may take out now (what the locks let out, or, where the money goes back to who paid it, your own share)',
  exceeds_amount_due: 'more than the deal still needs',
  insufficient_funds: 'not enough money in the paying account',
  invalid_amount: 'the amount is not valid',
  not_own_lock: 'you can only change your own lock',
  account_dissolved: 'the account is dissolved',
  verdict_already_given: 'the buyer has already decided on this deal',
  not_found: 'no such account',
  role_not_allowed: 'your role in this account cannot do that',
  account_awaiting_funds: 'the account is still waiting for its money',
  not_shipped: 'the seller has not shipped yet: release the payment once it has',
  already_shipped: 'this deal is already marked shipped',
  validation_failed: 'a field is missing or too long',
  dispute_resolved: 'the bank has decided this deal',
  deadline_passed: 'its deadline has passed',
  deal_cancelled: 'the seller cancelled this deal',
  invalid_state: 'the account no longer allows that',
  invalid_lock_share: 'the share is a number from 0 to 1 with at most 6 decimals',
  lock_share_not_allowed: 'a deal takes whole locks only',
  amount_out_of_range: 'the amount is too large',
  account_not_empty: 'only an empty account can be closed',
  conflict: 'the account changed meanwhile: look again and retry',
  rate_limited: 'too many requests: wait a moment and retry',
  idempotency_key_reused: 'this form was already used for something else',
};

function failure(c: PageContext, error: { code: string; message: string }, status = 400) {
  return page(
    c,
    'Error: Refused',
    html`<h1>Refused</h1>${alertBox(html`${error.message} (<code>${error.code}</code>)`)}
      <p><a href="/bank">Back to your accounts</a></p>`,
    undefined,
    status,
  );
}

/**
 * The seller is told the bank's fee before it withdraws, not only in the history afterwards
 * (helper-46's review): what the bank keeps of what the seller takes, by the schedule in force.
 */
function withdrawalFeeNote(c: PageContext, account: TemporaryAccountView, role: string | undefined) {
  if (role !== 'seller' || !isCurrencyCode(account.currency)) return '';
  const rule = c.get('gateway').bank.commission.withdrawal[account.currency];
  if (!rule || (rule.flatMinor === 0 && rule.basisPoints === 0)) return '';
  return html`<p class="hint">The bank keeps a fee of ${feeText(rule, account.currency)} of what you take; the rest reaches your usual account.</p>`;
}

/** The bank's creation fee, said before the account is made (helper-78: a buyer funding exactly its balance was refused for the fee). */
function creationFeeNote(c: PageContext, offered: string[]) {
  const fees = offered.flatMap((currency) => {
    const rule = c.get('gateway').bank.commission.creation[currency as CurrencyCode];
    const text = rule && feeText(rule, currency);
    return text ? [`${text} on an account in ${currency}`] : [];
  });
  if (fees.length === 0) return '';
  return html`<p class="hint" id="creation-fee">The bank charges a creation fee of ${fees.join('; ')}, paid with the money that funds the account: from the account you fund from (funded now if it holds the amount and the fee), or with your first pay-in.</p>`;
}

/** A fee rule in words: "1% + 10 JPY". */
function feeText(rule: FeeRule, currency: string): string {
  return [
    ...(rule.basisPoints > 0 ? [`${rule.basisPoints / 100}%`] : []),
    ...(rule.flatMinor > 0 ? [money(rule.flatMinor, currency)] : []),
  ].join(' + ');
}

function refusal() {
  return html`<h1>Refused</h1>${alertBox('This form was not sent by this site, or it expired.')}
    <p><a href="/bank">Back to your accounts</a></p>`;
}

/**
 * For a payer with no usual account in the currency: a buyer pays by remittance (rule 7, step
 * 113), the amount still due plus the creation fee, which the bank keeps from it; a member pays
 * in from a usual account only (a remittance is booked for the buyer).
 */
function noUsualPayIn(account: TemporaryAccountView, role: string | undefined) {
  if (role !== 'buyer') {
    return html`<p class="hint" id="no-usual-pay-in">You have no usual account in ${account.currency} at this bank: ask the bank to open one to pay in.</p>`;
  }
  const amount =
    account.amountDueMinor === null
      ? 'what you pay in'
      : money(account.amountDueMinor + account.creationFeeDueMinor, account.currency);
  const fee =
    account.creationFeeDueMinor > 0
      ? ` (the bank keeps its fee of ${money(account.creationFeeDueMinor, account.currency)} from it)`
      : '';
  return html`<p class="hint" id="no-usual-pay-in">You have no usual account in ${account.currency} at this bank. Pay by a transfer from another bank or at the counter: send ${amount}${fee}, quoting <code>${account.code}</code>. The bank books it to this account.</p>`;
}

/** A party's lock; a partial one says what it holds from the others (its `heldMinor`). */
function lockText(party: TemporaryAccountView['parties'][number], account: TemporaryAccountView): string {
  const currency = account.currency;
  if (party.lockPpm === 0) return 'off';
  // Outside the release group it blocks nobody: "on (1)" looked like it protected the money
  // (helper-78's review; the API says heldMinor 0).
  const policy = account.releasePolicy;
  if (party.role === 'member' && policy.kind === 'group' && party.group !== policy.group)
    return `on (${party.lock}), holds nothing: outside the release group`;
  // What it holds is the API's heldMinor (core heldFromOthersMinor): nothing on a deal that is off.
  if (account.balanceMinor > 0 && party.heldMinor === 0 && returnsToPayers(account))
    return `on (${party.lock}), holds nothing: ${dealIsOff(account) ? 'the deal is off' : account.dispute ? 'the bank decided for the buyer' : 'the ship deadline passed'}`;
  if (party.lockPpm === lockPpmFull) return `on (${party.lock})`;
  return `on (${party.lock}, holds ${money(party.heldMinor, currency)})`;
}

function statusText(account: TemporaryAccountView): string {
  if (account.status === 'dissolved') return 'Dissolved';
  if (account.status === 'awaiting_funds') {
    // The creation fee due is paid with the pay-in: say so, or paying exactly the missing
    // amount is refused for want of the fee (helper-46's review).
    const fee =
      account.creationFeeDueMinor > 0
        ? `, and the bank's fee of ${money(account.creationFeeDueMinor, account.currency)} with the pay-in`
        : '';
    // What the deal still takes (amountDueMinor), not the amount less the balance: what the
    // seller already took is paid (helper-64's review).
    const dueMinor = account.amountDueMinor ?? account.funding.shortfallMinor;
    if (account.deadlines.cancelled) return 'Cancelled by the seller: it takes no more money';
    if (account.deadlines.payMissed) return 'Not paid up in time: it takes no more money';
    if (returnsToPayers(account))
      return 'Not shipped in time: it takes no more money, and what was paid in goes back to who paid it';
    return `Awaiting funds (${money(dueMinor, account.currency)} missing${fee})`;
  }
  const locks = account.parties
    .filter((party) => party.lockPpm > 0)
    .map((party) => party.role)
    .join(', ');
  return `Funded${account.shipment ? ', shipped' : ''}${locks ? `; locked by ${locks}` : '; no lock on'}`;
}

/** An amount as the forms take it back ("10,500", "12.50"), without the currency. */
function plainAmount(amountMinor: number, currency: string): string {
  return money(amountMinor, currency).split(' ')[0] as string;
}

/** Formats minor units with the currency's exponent, exactly (string arithmetic, no floats). */
function money(amountMinor: number, currency: string): string {
  const exponent = isCurrencyCode(currency) ? currencies[currency].exponent : 0;
  const negative = amountMinor < 0;
  const digits = String(Math.abs(amountMinor)).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const fraction = exponent > 0 ? `.${digits.slice(-exponent)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction} ${currency}`;
}

/** "10500" or "12.34" in major units → integer minor units, exactly; undefined when invalid. */
function majorToMinor(text: string, currency: keyof typeof currencies): number | undefined {
  const exponent = currencies[currency].exponent;
  // Commas only as thousands separators ("10,500"): "12,34" may mean 12.34 (a decimal comma)
  // and was read as 1,234 (helper-46's review), so any other comma is refused.
  const trimmed = text.trim();
  if (trimmed.includes(',') && !/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(trimmed)) return undefined;
  const match = /^(\d{1,15})(?:\.(\d+))?$/.exec(trimmed.replace(/,/g, ''));
  if (!match) return undefined;
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) return undefined;
  const minor = Number(`${match[1]}${fraction.padEnd(exponent, '0')}`);
  return Number.isSafeInteger(minor) && minor > 0 ? minor : undefined;
}
