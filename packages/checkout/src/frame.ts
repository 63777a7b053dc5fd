import { awaitsShipment, deadlineNotice, returnsToPayers } from '@lockstep/core';
import { confirmationWindow } from './confirm-window.ts';
import { dictionaries, formatAmount, formatDate, type Lang, payFailureText, pickLang } from './i18n.ts';
import { messageSource, type WidgetEvent } from './protocol.ts';
import {
  type AccountView,
  alertBox,
  type Child,
  type ConfirmMessage,
  type ConfirmRequest,
  callApi,
  codeOf,
  confirmSource,
  type Decision,
  h,
  isConfirmMessage,
  isTransient,
} from './ui.ts';

/**
 * The checkout iframe's app, on the gateway's own origin (`/widget/frame`). It holds the
 * buyer's session in memory only (no cookie, no storage), talks to the gateway's JSON API on
 * its own origin, and tells the host page what happened by `postMessage` to the page's exact
 * origin, which the gateway checked against the merchant's registered origins.
 */
interface Config {
  mode: 'pay' | 'order' | 'confirm';
  hostOrigin: string;
  instance: string;
  invoice: string;
  account: string;
  lang: Lang;
}

const root = document.getElementById('app') as HTMLElement;
const data = document.documentElement.dataset;
const config: Config = {
  mode: data.mode === 'order' || data.mode === 'confirm' ? data.mode : 'pay',
  hostOrigin: data.hostOrigin ?? '',
  instance: data.instance ?? '',
  invoice: data.invoice ?? '',
  account: data.account ?? '',
  lang: pickLang(data.lang),
};
const t = dictionaries[config.lang];
document.documentElement.lang = config.lang;
for (const [key, value] of Object.entries(data)) {
  if (key.startsWith('theme') && value) {
    // data-theme-accent-text → dataset.themeAccentText → --lockstep-accent-text
    const property = `--lockstep${key.slice(5).replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
    document.documentElement.style.setProperty(property, value);
  }
}

let session: { token: string; customerId: string } | undefined;

// --- messaging ------------------------------------------------------------------------------

function emit(event: WidgetEvent): void {
  if (!config.hostOrigin || window.parent === window) return;
  window.parent.postMessage({ source: messageSource, instance: config.instance, event }, config.hostOrigin);
}

new ResizeObserver(() => emit({ type: 'resize', heightPx: document.documentElement.scrollHeight })).observe(
  document.body,
);

// --- DOM helpers ----------------------------------------------------------------------------

/**
 * The polite live region: every status change is announced to screen readers. It stays in
 * place while views change around it (a region re-inserted as it changes may go unheard).
 */
const live = h('p', { class: 'live', role: 'status', 'aria-live': 'polite' });

/** A view's heading: focusable by script, so focus has a place to go when the view changes. */
function heading(text: string): HTMLElement {
  return h('h1', { tabindex: '-1' }, text);
}

/**
 * Whether the keyboard focus is in `within`. With `orBody`, focus on the body counts when this
 * frame has the focus (a control disabled while busy leaves it there). Focus elsewhere (on the
 * shop's page) does not: leaving this frame resets its active element to the body, and the
 * frame has the focus no more. Focus is moved only when this says so: never on load.
 */
function focusIn(within: Element, orBody = false): boolean {
  const active = document.activeElement ?? document.body;
  return active === document.body ? orBody && document.hasFocus() : within.contains(active);
}

/**
 * Runs `replace`, which changes what `within` holds, and keeps the keyboard focus (`focusIn`):
 * when it is gone with what was replaced, it goes to the new control of the same kind
 * (`data-control`), else to `fallback()`.
 */
function keepingFocus(
  within: Element,
  replace: () => void,
  fallback: () => HTMLElement | null | undefined,
  orBody = false,
): void {
  const active = document.activeElement ?? document.body;
  const inside = focusIn(within, orBody);
  const kind = active instanceof HTMLElement ? active.dataset.control : undefined;
  replace();
  if (!inside || (active !== document.body && document.activeElement === active)) return;
  const same = kind ? within.querySelector<HTMLElement>(`[data-control="${kind}"]`) : null;
  (same ?? fallback())?.focus();
}

/**
 * Shows a view. Focus moves only when the old view had it (or this frame has it and it was
 * lost): to the view's `data-autofocus` control, else its heading. Never on load, when focus
 * is the shop page's: the widget does not take the buyer's focus or keystrokes.
 */
function show(...children: Child[]): void {
  if (live.parentNode !== root) root.append(live);
  keepingFocus(
    root,
    () => {
      for (const node of [...root.childNodes]) if (node !== live) node.remove();
      live.before(...children.filter((child): child is Node | string => Boolean(child)));
    },
    () => root.querySelector<HTMLElement>('[data-autofocus]') ?? root.querySelector<HTMLElement>('h1'),
    true,
  );
}

function announce(text: string): void {
  live.textContent = text;
}

// --- API ------------------------------------------------------------------------------------

function api<T>(
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  idempotencyKey?: string,
): Promise<T> {
  return callApi<T>(method, path, { token: session?.token, body, idempotencyKey });
}

// --- login ----------------------------------------------------------------------------------

function loginForm(intro: Child, onLoggedIn: () => void): HTMLElement {
  const userId = h('input', {
    id: 'user-id',
    name: 'userId',
    autocomplete: 'username',
    required: true,
    maxlength: '64',
    // Focused only if this frame already has the focus (show): never on load.
    'data-autofocus': true,
  });
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    maxlength: '256',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, t.logIn);
  const problem = h('div');
  const fields = [userId, password];
  const form = h(
    'form',
    { class: 'login', 'aria-label': t.logIn },
    intro,
    h('label', { for: 'user-id' }, t.userId),
    userId,
    h('label', { for: 'password' }, t.password),
    password,
    problem,
    submit,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = t.loggingIn;
    problem.replaceChildren();
    for (const field of fields) {
      field.removeAttribute('aria-invalid');
      field.removeAttribute('aria-describedby');
    }
    try {
      const result = await api<{ token: string; customer: { id: string } }>('POST', '/v1/sessions', {
        userId: userId.value,
        password: password.value,
      });
      session = { token: result.token, customerId: result.customer.id };
      password.value = '';
      onLoggedIn();
    } catch (error) {
      const message = alertBox(codeOf(error) === 'login_locked' ? t.loginLocked : t.loginFailed);
      message.id = 'login-problem';
      problem.replaceChildren(message);
      // The fields say they were refused, and why (cleared when the buyer tries again).
      for (const field of fields) {
        field.setAttribute('aria-invalid', 'true');
        field.setAttribute('aria-describedby', message.id);
      }
      submit.disabled = false;
      submit.textContent = t.logIn;
      // The buyer pressed Log in here: back to the password, unless they have left the frame.
      if (focusIn(form, true)) password.focus();
    }
  });
  return form;
}

// --- pay mode (steps 103, 111-113) ------------------------------------------------------------

interface VerifiedInvoice {
  payeeName: string;
  amountMinor: number;
  currency: string;
  /** The bank's fee the buyer pays on top, with the funding (absent from older gateways). */
  creationFeeMinor?: number;
  orderReference: string;
  description: string;
}

async function payMode(): Promise<void> {
  show(h('p', {}, t.loading));
  let invoice: VerifiedInvoice;
  try {
    invoice = await api<VerifiedInvoice>('POST', '/v1/invoices/verify', { token: config.invoice });
  } catch (error) {
    const code = codeOf(error);
    const text =
      code === 'invoice_expired'
        ? t.invoiceExpired
        : code === 'invoice_already_used'
          ? t.invoiceUsed
          : t.invoiceInvalid;
    show(heading(t.payTitle), alertBox(text));
    emit({ type: 'error', code, message: text });
    return;
  }
  const terms = termsOf(invoice);
  const summary = h(
    'dl',
    { class: 'invoice' },
    h('dt', {}, t.payee),
    h('dd', {}, invoice.payeeName),
    h('dt', {}, t.amount),
    h('dd', { class: terms.feeText ? '' : 'amount' }, terms.amountText),
    ...(terms.feeText
      ? [
          h('dt', {}, t.bankFee),
          h('dd', {}, terms.feeText),
          h('dt', {}, t.total),
          h('dd', { class: 'amount' }, terms.totalText),
        ]
      : []),
    h('dt', {}, t.order),
    h('dd', {}, invoice.orderReference),
    h('dt', {}, t.description),
    h('dd', {}, invoice.description),
  );
  show(
    heading(t.payTitle),
    summary,
    loginForm(null, () => void chooseAccount(invoice, summary, terms)),
  );
  emit({ type: 'ready', mode: 'pay' });
}

/**
 * What the buyer pays for an invoice: the amount and the bank's fee with it (charged together,
 * so both are told before paying), in minor units and as text.
 */
interface PayTerms {
  chargedMinor: number;
  amountText: string;
  /** Null when the bank charges no fee (or is older than the invoice's `creationFeeMinor`). */
  feeText: string | null;
  totalText: string;
}

function termsOf(invoice: VerifiedInvoice): PayTerms {
  const money = (minor: number) => formatAmount(minor, invoice.currency, config.lang);
  const feeMinor = invoice.creationFeeMinor ?? 0;
  return {
    chargedMinor: invoice.amountMinor + feeMinor,
    amountText: money(invoice.amountMinor),
    feeText: feeMinor > 0 ? money(feeMinor) : null,
    totalText: money(invoice.amountMinor + feeMinor),
  };
}

async function chooseAccount(invoice: VerifiedInvoice, summary: HTMLElement, terms: PayTerms): Promise<void> {
  let aggregation: {
    usualAccounts: Array<{ id: string; name: string; currency: string; balanceMinor: number }>;
  };
  try {
    aggregation = await api('GET', '/v1/accounts');
  } catch (error) {
    // Back to the login form, with the reason: nothing was paid.
    const code = codeOf(error);
    show(
      heading(t.payTitle),
      summary,
      alertBox(t.failed),
      loginForm(null, () => void chooseAccount(invoice, summary, terms)),
    );
    emit({ type: 'error', code, message: t.failed });
    return;
  }
  const accounts = aggregation.usualAccounts.filter((account) => account.currency === invoice.currency);
  // The first account that holds the amount and the bank's fee is chosen; with none, paying later.
  const enough = accounts.find((account) => account.balanceMinor >= terms.chargedMinor);
  const choices = accounts.map((account) =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'fundFrom', value: account.id, checked: account === enough }),
      ` ${account.name} (${t.balance} ${formatAmount(account.balanceMinor, account.currency, config.lang)})`,
    ),
  );
  // Rule 7: without the money now (or without an account here in the currency), the buyer may
  // open the deal and pay it in later; nothing is taken until then.
  choices.push(
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'radio', name: 'fundFrom', value: payLaterValue, checked: !enough }),
      ` ${t.payLaterChoice}`,
    ),
  );
  const chosen = () =>
    (form.querySelector('input[name=fundFrom]:checked') as HTMLInputElement | null)?.value ?? payLaterValue;
  // One key per choice: a second window after a lost answer, and retries, pay once. Another
  // choice is another request: under the same key, one whose answer was lost would be refused
  // as `idempotency_key_reused` (the invoice can be claimed once whatever the key).
  const keys = new Map<string, string>();
  const keyFor = (choice: string) => {
    const key = keys.get(choice) ?? `widget-${crypto.randomUUID()}`;
    keys.set(choice, key);
    return key;
  };
  const label = () => (chosen() === payLaterValue ? t.payLaterButton : t.confirmPay(terms.totalText));
  const pay = h(
    'button',
    { type: 'submit', class: 'primary', 'data-autofocus': true },
    t.confirmPay(terms.totalText),
  );
  const problem = h('div');
  const waiting = h('div');
  const fieldset = h(
    'fieldset',
    {},
    h('legend', {}, t.fromAccount),
    ...(accounts.length === 0 ? [h('p', { class: 'hint' }, t.noAccountHere)] : []),
    // Why "Pay later" is chosen for the buyer (helper-86: it was preselected without a word).
    ...(accounts.length > 0 && !enough
      ? [h('p', { class: 'hint' }, t.noAccountHolds(terms.totalText, terms.feeText !== null))]
      : []),
    ...choices,
  );
  const form = h('form', { class: 'pay' }, fieldset, problem, waiting, pay);
  pay.textContent = label();
  form.addEventListener('change', () => {
    if (!pay.disabled) pay.textContent = label();
  });
  const failureText = (code: string) => payFailureText(t, code);
  let open: BankWindow | null | undefined;
  // A payment whose answer was lost: until a Pay finds out, the choice stays as it was (another
  // choice is another request, which the invoice claimed meanwhile refuses as used).
  let outcomeUnknown = false;
  const ready = () => {
    open = undefined;
    waiting.replaceChildren();
    fieldset.disabled = outcomeUnknown;
    pay.disabled = false;
    pay.textContent = label();
    announce('');
  };
  // Pay is confirmed in the bank's own window, like Release: the shop frames this iframe and
  // could hide it (opacity, masks, outlines, zoom...) under a decoy to get a click on Pay.
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (pay.disabled) return;
    // Pay is disabled while the window is open: focus goes to "Show that window" meanwhile.
    const focusHere = focusIn(form, true);
    problem.replaceChildren();
    const choice = chosen();
    const later = choice === payLaterValue;
    const fundFrom = later ? undefined : choice;
    const fromAccount = accounts.find((account) => account.id === fundFrom);
    // The window's state, as it reports it: while it is paying the outcome is not ours to drop.
    let paying = false;
    let lastFailure: string | undefined;
    const cancel = h('button', { type: 'button', class: 'secondary' }, t.cancel);
    open = bankWindow(
      '',
      {
        source: confirmSource,
        type: 'request',
        action: 'pay',
        invoice: config.invoice,
        ...(later ? { payLater: true } : fundFrom ? { fundFrom } : {}),
        ...(fromAccount ? { accountName: fromAccount.name } : {}),
        idempotencyKey: keyFor(choice),
        payeeName: invoice.payeeName,
        orderReference: invoice.orderReference,
        amountText: terms.amountText,
        ...(terms.feeText ? { feeText: terms.feeText, totalText: terms.totalText } : {}),
        token: session?.token ?? '',
      },
      {
        busy: () => {
          paying = true;
          cancel.hidden = true;
        },
        done: async (message) => {
          open?.end('settled');
          await api('DELETE', '/v1/sessions/current').catch(() => {});
          session = undefined;
          const account = message.account;
          if (account.status === 'awaiting_funds') {
            show(heading(t.payTitle), summary, h('p', { class: 'success' }, t.opened), payInHint(account));
            announce(t.opened);
            emit({ type: 'opened', code: account.code });
            return;
          }
          show(heading(t.payTitle), summary, h('p', { class: 'success' }, t.paid));
          announce(t.paid);
          emit({ type: 'paid', code: account.code });
        },
        // The window says why and may be tried again: the page hears of it once it is given up.
        // An invoice paid meanwhile (another tab) or expired can never be paid here: the window
        // closes and the form goes (it said "Confirm in your bank's window" beside "already
        // paid", over a balance from before: helper-75's review).
        failed: (code) => {
          if (code === 'invoice_already_used' || code === 'invoice_expired') {
            open?.end('settled');
            // Nothing more to do with this login, as after a payment.
            void api('DELETE', '/v1/sessions/current').catch(() => {});
            session = undefined;
            const text = failureText(code);
            const hadFocus = focusIn(form, true);
            show(heading(t.payTitle), summary, alertBox(text));
            announce(text);
            emit({ type: 'error', code, message: text });
            if (hadFocus) (document.querySelector('h1') as HTMLElement | null)?.focus();
            return;
          }
          // A transient failure (the connection dropped) leaves the payment's outcome unknown;
          // any other is an answer: nothing was paid, and the buyer may choose again.
          paying = isTransient(code);
          // Refusals of this try before the bank looked at the payment say nothing of a lost one.
          if (!paying && !refusedBeforePaying.has(code)) outcomeUnknown = false;
          cancel.hidden = paying;
          lastFailure = code;
          problem.replaceChildren(alertBox(failureText(code)));
        },
        gone: () => {
          const hadFocus = focusIn(form, true);
          if (paying) outcomeUnknown = true;
          ready();
          if (paying) {
            // Closed while the bank was paying: Pay again finds out (same key, never twice); the
            // choice stays fixed until then (helper-82's and helper-83's reviews).
            problem.replaceChildren(alertBox(t.payOutcomeUnknown));
            announce(t.payOutcomeUnknown);
          } else if (lastFailure) {
            emit({ type: 'error', code: lastFailure, message: failureText(lastFailure) });
          }
          if (hadFocus) pay.focus();
        },
        noAnswer: () => {
          const hadFocus = focusIn(form, true);
          ready();
          problem.replaceChildren(alertBox(t.payWindowFailed));
          announce(t.payWindowFailed);
          if (hadFocus) pay.focus();
        },
      },
    );
    if (!open) {
      problem.replaceChildren(alertBox(t.payWindowFailed));
      announce(t.payWindowFailed);
      return;
    }
    pay.disabled = true;
    fieldset.disabled = true;
    const showAgain = h('button', { type: 'button', class: 'secondary' }, t.showWindow);
    const popup = open.popup;
    showAgain.addEventListener('click', () => popup.focus());
    cancel.addEventListener('click', () => {
      if (paying) return;
      open?.end('cancelled');
      ready();
      if (lastFailure) emit({ type: 'error', code: lastFailure, message: failureText(lastFailure) });
      pay.focus();
    });
    waiting.replaceChildren(h('p', {}, t.confirmInWindow), h('div', { class: 'actions' }, showAgain, cancel));
    announce(t.confirmInWindow);
    if (focusHere) showAgain.focus();
  });
  show(heading(t.payTitle), summary, form);
}

// --- order mode (steps 106, 120-122) ----------------------------------------------------------

async function orderMode(): Promise<void> {
  show(
    heading(t.orderTitle),
    loginForm(h('p', {}, t.logInToSee), () => void watch()),
  );
  emit({ type: 'ready', mode: 'order' });
}

/** The order view's state: refreshes run one at a time and never show an older version. */
const order = {
  path: `/v1/temporary-accounts/${encodeURIComponent(config.account)}`,
  shownVersion: -1,
  refreshing: false,
  refreshAgain: false,
  /** A failure to show until the next successful action. */
  problem: '',
  /** The view, once shown (after login): later versions update it in place. */
  view: undefined as OrderView | undefined,
  lastAccount: undefined as AccountView | undefined,
  /** The bank's window while a Release / Report confirmation is open: live updates keep it. */
  confirmation: undefined as BankWindow | undefined,
  lastStatusLine: '',
  /** The verdict last shown (undefined before the first view): its first change is an event. */
  lastVerdict: undefined as AccountView['verdict'] | undefined,
  /** Once closed: where the money went, if any ever came in (its history says, `howClosed`). */
  closedAs: undefined as 'refunded' | 'cancelled' | 'completed' | undefined,
  /**
   * Once closed: the bank's creation fee it kept (charged with the pay-ins, less what a cancel
   * gave back). "Your money went back to you" of a deal the buyer paid ¥4,900 into and got
   * ¥4,800 back from said nothing of the ¥100 (helper-89).
   */
  feeKeptMinor: 0,
};

/**
 * The parts of the order view that change. A live update replaces the facts and leaves the
 * actions alone while they stay the same, so the keyboard focus stays on Release, say.
 */
interface OrderView {
  heading: HTMLElement;
  problem: HTMLElement;
  problemText: string;
  list: HTMLElement;
  actions: HTMLElement;
  /** What the actions offer: `decide` (Release, Report), the verdict, `confirming`, or none. */
  actionsKey: string;
}

async function watch(): Promise<void> {
  let account: AccountView;
  try {
    account = await api<AccountView>('GET', order.path);
  } catch (error) {
    const code = codeOf(error);
    if (code === 'not_found') {
      // Logged in as someone else (a shared computer, a second login): that login ends here, and
      // the buyer may log in again as the customer who paid. It left a dead end: only reloading
      // the shop's page offered the login again.
      void api('DELETE', '/v1/sessions/current').catch(() => {});
      session = undefined;
      show(
        heading(t.orderTitle),
        alertBox(t.notYours),
        loginForm(h('p', {}, t.notYoursLogIn), () => void watch()),
      );
    } else {
      show(heading(t.orderTitle), alertBox(t.failed));
    }
    emit({ type: 'error', code, message: code === 'not_found' ? t.notYours : t.failed });
    return;
  }
  await howClosed(account);
  renderOrder(account);
  void followStream(account.version);
}

/**
 * A closed deal's money went back to the buyer when the buyer took money out and the seller
 * took none: read once from its history (the view says where a deal stands, not who was paid).
 * Guessed from the verdict, a rejected deal the seller was paid read "went back to you"
 * (helper-77's review), and a deal taken back before the seller locked read "Completed".
 * One closed before any money came in (paying later, never paid) is cancelled.
 */
async function howClosed(account: AccountView): Promise<void> {
  if (account.status !== 'dissolved' || order.closedAs !== undefined) return;
  const took = new Set<string>();
  // The creation fee the buyer itself paid, less a cancel's refund of it: a fee a member paid
  // went back to the member, or was kept from the member (helper-97).
  let buyerFeeMinor = 0;
  let feeRefundedMinor = 0;
  try {
    for (let after = 0; ; ) {
      const page = await api<{
        data: Array<{
          seq: number;
          type: string;
          actor: string;
          data: { role?: unknown; feeMinor?: unknown; feeRefundedMinor?: unknown };
        }>;
      }>('GET', `${order.path}/events?after=${after}&limit=500`);
      for (const event of page.data) {
        if (event.type === 'account.withdrawn') took.add(String(event.data.role));
        // The buyer's own pay-ins, and remittances, which the bank books for the buyer (actor `bank`).
        const buyers =
          event.actor === session?.customerId || (event.data as { source?: unknown }).source === 'remittance';
        if (event.type === 'account.deposited' && buyers)
          buyerFeeMinor += Number(event.data.feeMinor ?? 0) || 0;
        if (event.type === 'deal.cancelled')
          feeRefundedMinor += Number(event.data.feeRefundedMinor ?? 0) || 0;
      }
      const last = page.data.at(-1);
      if (page.data.length < 500 || !last) break;
      after = last.seq;
    }
    // Only a withdrawal empties an account: none at all, and it never held money (a deal the
    // buyer opened to pay later, closed unpaid). Taken out by its payers and not the seller, it
    // went back (to a member, too, that paid in: it said "Completed").
    order.closedAs = took.size === 0 ? 'cancelled' : took.has('seller') ? 'completed' : 'refunded';
    order.feeKeptMinor = buyerFeeMinor > 0 ? Math.max(0, buyerFeeMinor - feeRefundedMinor) : 0;
  } catch {
    // Unknown: the neutral "Completed" (the next refresh asks again).
  }
}

/** Refetches the account once per burst of events; an answer older than what is shown is dropped. */
async function refresh(): Promise<void> {
  if (order.refreshing) {
    order.refreshAgain = true;
    return;
  }
  order.refreshing = true;
  try {
    do {
      order.refreshAgain = false;
      try {
        const account = await api<AccountView>('GET', order.path);
        await howClosed(account);
        renderOrder(account);
      } catch {
        // The next event (or the stream's reconnect) refreshes again.
      }
    } while (order.refreshAgain);
  } finally {
    order.refreshing = false;
  }
}

/**
 * The account's Server-Sent Events, read with fetch so the session travels in the
 * Authorization header (never in a URL, where proxies would log it). Resumes after the last
 * event seen; reconnects after a drop; stops when the session ends.
 */
async function followStream(afterSeq: number): Promise<void> {
  let lastId = String(afterSeq);
  for (let failures = 0; session && failures < 20; ) {
    try {
      const response = await fetch(`${order.path}/stream`, {
        headers: {
          authorization: `Bearer ${session.token}`,
          accept: 'text/event-stream',
          'last-event-id': lastId,
        },
        cache: 'no-store',
        credentials: 'omit',
      });
      if (response.status === 401 || response.status === 404) break;
      if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let split = buffer.indexOf('\n\n'); split >= 0; split = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const id = /^id: ?(.*)$/m.exec(block)?.[1];
          if (id) {
            lastId = id;
            failures = 0; // the stream works: back off from scratch next time
            void refresh();
          }
        }
      }
    } catch {
      // A dropped or failed stream.
    }
    failures++;
    await new Promise((resolve) => setTimeout(resolve, 1_000 * Math.min(2 ** failures, 30)));
  }
  // Not live any more (logged out, account gone, or the gateway unreachable): say so.
  document.getElementById('live-badge')?.replaceChildren(t.offline);
  announce(t.offline);
}

/**
 * The buyer reported a problem and no lock holds its money back any more (the seller released
 * its own: a refund), with no dispute decided: the money is the buyer's to take back. The
 * widget said only "Your lock stays on" (helper-75's review).
 */
function refundReady(account: AccountView): boolean {
  return (
    account.status !== 'dissolved' &&
    account.verdict === 'rejected' &&
    !account.dispute &&
    (account.movableMinor ?? 0) > 0
  );
}

/**
 * What the buyer decided, while it still says something: once closed, "Your lock stays on" of
 * a reported problem is over (the status says where the money went).
 */
function verdictText(account: AccountView): string {
  // Accepted by the bank at the verdict deadline, not by the buyer (helper-89).
  if (account.verdict === 'accepted')
    return account.deadlines?.verdictMissed ? t.acceptedByDeadline : t.released;
  if (account.verdict === 'rejected' && account.status !== 'dissolved') return t.rejected;
  return '';
}

/** The decision buttons shown: a live update that changes them redraws them. */
function decideKey(account: AccountView): string {
  return awaitsShipment(account) ? 'decide' : 'decide+release';
}

/**
 * What the buyer must know of the deal's deadlines or its dispute (docs/api.md): when the
 * seller must ship, when silence releases the payment, or how the bank decided. Nothing when
 * none applies.
 */
function deadlineRow(account: AccountView): HTMLElement[] {
  if (refundReady(account)) {
    return [h('dt', {}, t.nextStep), h('dd', { 'data-field': 'next-step' }, t.refundReady)];
  }
  if (account.status === 'awaiting_funds' && isBuyer(account) && !returnsToPayers(account)) {
    return [h('dt', {}, t.nextStep), h('dd', { 'data-field': 'next-step' }, payInHint(account))];
  }
  const notice = deadlineNotice(account);
  // A closed deal's dispute is over: "take your money back at your bank" stayed under "Deadline"
  // after the buyer had (helper-89); the status says where the money went.
  if (notice?.kind === 'dispute' && account.status === 'dissolved') return [];
  const text =
    notice?.kind === 'dispute'
      ? t.disputeFor(notice.resolvedFor)
      : notice?.kind === 'shipMissed'
        ? t.shipMissed
        : notice?.kind === 'shipBy'
          ? t.shipBy(formatDate(notice.at, config.lang))
          : notice?.kind === 'verdictBy'
            ? t.decideBy(formatDate(notice.at, config.lang))
            : notice?.kind === 'memberLocksBy'
              ? t.memberLocksBy(formatDate(notice.at, config.lang))
              : '';
  return text ? [h('dt', {}, t.deadline), h('dd', { 'data-field': 'deadline' }, text)] : [];
}

function renderOrder(account: AccountView): void {
  if (account.version < order.shownVersion) return;
  order.shownVersion = account.version;
  order.lastAccount = account;
  const buyer = account.parties.find((party) => party.customerId === session?.customerId);
  const seller = account.parties.find((party) => party.role === 'seller');
  // A closed deal's locks hold nothing any more: "—", as the bank's page says (helper-81).
  const lockText = (ppm: number | undefined) =>
    account.status === 'dissolved'
      ? '—'
      : ppm && ppm > 0
        ? `${t.lockOn}${ppm < 1_000_000 ? ` (${ppm / 10_000}%)` : ''}`
        : t.lockOff;
  const state =
    account.status === 'dissolved'
      ? order.closedAs === 'refunded'
        ? order.feeKeptMinor > 0
          ? t.refundedFeeKept(formatAmount(order.feeKeptMinor, account.currency, config.lang))
          : t.refunded
        : order.closedAs === 'cancelled'
          ? t.cancelled
          : t.dissolved
      : returnsToPayers(account)
        ? // Closed to pay-ins: nothing is "awaiting" any more; what was paid in goes back.
          account.deadlines?.cancelled
          ? t.cancelledState
          : account.deadlines?.payMissed
            ? t.payMissedState
            : t.shipMissedState
        : account.status === 'awaiting_funds'
          ? // The creation fee is paid with the first pay-in (or kept from a remittance): paying
            // only the amount due left the deal unfunded (helper-67's review).
            t.awaitingFunds(
              account.amountDueMinor
                ? formatAmount(account.amountDueMinor, account.currency, config.lang)
                : null,
              account.creationFeeDueMinor
                ? formatAmount(account.creationFeeDueMinor, account.currency, config.lang)
                : null,
            )
          : t.funded;
  const statusLine = [
    state,
    `${t.yourLock}: ${lockText(buyer?.lockPpm)}`,
    `${t.sellerLock}: ${lockText(seller?.lockPpm)}`,
    account.shipment ? t.shipped : t.notShipped,
    verdictText(account),
  ]
    .filter(Boolean)
    .join(' · ');
  const list = h(
    'dl',
    { class: 'status', 'aria-describedby': 'live-badge' },
    h('dt', {}, t.status),
    h('dd', { 'data-field': 'status' }, state),
    h('dt', {}, t.inAccount),
    h(
      'dd',
      { 'data-field': 'balance', class: 'amount' },
      formatAmount(account.balanceMinor, account.currency, config.lang),
    ),
    h('dt', {}, t.yourLock),
    h('dd', { 'data-field': 'buyer-lock' }, lockText(buyer?.lockPpm)),
    h('dt', {}, t.sellerLock),
    h('dd', { 'data-field': 'seller-lock' }, lockText(seller?.lockPpm)),
    h('dt', {}, t.shipped),
    h(
      'dd',
      { 'data-field': 'shipment' },
      account.shipment ? t.tracking(account.shipment.carrier, account.shipment.trackingNumber) : t.notShipped,
    ),
    ...deadlineRow(account),
  );
  // Whether or not the buyer's lock is on: a buyer that unlocked (to let the seller take an
  // advance) still releases, or reports a problem, which turns its lock back on; the widget hid
  // both, while the verdict deadline would release the payment on its own (helper-66's review).
  // Not past a missed ship deadline: the money goes back, and the bank refuses a verdict (helper-98).
  const canDecide =
    account.status === 'funded' &&
    account.verdict === null &&
    buyer?.role === 'buyer' &&
    !returnsToPayers(account);
  const view: OrderView = order.view ?? {
    heading: heading(t.orderTitle),
    problem: h('div'),
    problemText: '',
    list,
    actions: h('div', { class: 'actions' }),
    actionsKey: '',
  };
  if (view.list !== list) {
    view.list.replaceWith(list);
    view.list = list;
  }
  if (view.problemText !== order.problem) {
    view.problemText = order.problem;
    view.problem.replaceChildren(...(order.problem ? [alertBox(order.problem)] : []));
  }
  // While a confirmation is open, the buyer's half-made decision stays. Otherwise the decision
  // is made (by the window, which then closes by itself, or elsewhere) or moot.
  if (!(order.confirmation && canDecide)) {
    endConfirmation('settled');
    // A deal is released once shipped (the API says not_shipped before): until then the
    // buyer may only report a problem, and is told when releasing comes.
    const canRelease = canDecide && !awaitsShipment(account);
    const actionsKey = canDecide ? decideKey(account) : verdictText(account);
    if (view.actionsKey !== actionsKey) {
      view.actionsKey = actionsKey;
      const actions = view.actions;
      const children: Node[] = [];
      if (canDecide) {
        const release = h(
          'button',
          { type: 'button', class: 'primary', 'data-control': 'release' },
          t.release,
        );
        const report = h(
          'button',
          { type: 'button', class: 'secondary', 'data-control': 'report' },
          t.reportProblem,
        );
        // The account as last shown when clicked: these buttons outlive the version they came with.
        release.addEventListener('click', () =>
          openConfirmation(actions, 'accept', order.lastAccount ?? account),
        );
        report.addEventListener('click', () =>
          openConfirmation(actions, 'reject', order.lastAccount ?? account),
        );
        children.push(
          ...(canRelease ? [release] : [h('p', { class: 'hint' }, t.releaseAfterShipping)]),
          report,
        );
      } else if (verdictText(account)) {
        children.push(h('p', { class: 'success' }, verdictText(account)));
      }
      keepingFocus(
        actions,
        () => actions.replaceChildren(...children),
        () => actions.querySelector('button') ?? view.heading,
      );
    }
  }
  if (!order.view) {
    // After login: the view replaces the login form, and takes the focus if the form had it.
    order.view = view;
    show(
      // The badge is beside the heading, not in it: the heading reads "Your payment".
      h('div', { class: 'heading' }, view.heading, h('span', { class: 'badge', id: 'live-badge' }, t.live)),
      view.problem,
      view.list,
      view.actions,
    );
  }
  // The first status line too: after login, the buyer hears where the deal stands.
  if (statusLine !== order.lastStatusLine) {
    announce(statusLine);
    order.lastStatusLine = statusLine;
  }
  // Released or reported while this view is open, through the bank's window or any other way:
  // the page is told once, whichever answer (the window's report or the live update) came first.
  if (order.lastVerdict === null && account.verdict !== null) {
    emit({ type: account.verdict === 'accepted' ? 'released' : 'rejected', code: account.code });
  }
  order.lastVerdict = account.verdict;
}

interface BankWindow {
  popup: Window;
  /** Stops listening; `cancelled` closes the window, `settled` lets it finish and close. */
  end(outcome: 'cancelled' | 'settled'): void;
}

/**
 * Opens the bank's confirmation window (`/widget/confirm`) and hands it `request` (with the
 * session) once it says it is ready: posted to that window only, on our own origin. Its answers
 * are taken from that window only. `gone` runs when the buyer cancels there or closes it;
 * `noAnswer` when it never becomes ready (a page whose Cross-Origin-Opener-Policy cut its
 * opener, say). Null when the browser would not open it.
 */
function bankWindow(
  query: string,
  request: ConfirmRequest,
  on: {
    done(message: Extract<ConfirmMessage, { type: 'done' }>): void;
    failed(code: string): void;
    gone(): void;
    noAnswer(): void;
    /** The window started calling the bank (until `done` or `failed`). */
    busy?(): void;
  },
): BankWindow | null {
  const popup = window.open(
    `/widget/confirm?lang=${config.lang}${query}`,
    '_blank',
    'popup,width=480,height=640',
  );
  if (!popup) return null;
  let ready = false;
  let ended = false;
  const end = (outcome: 'cancelled' | 'settled') => {
    if (ended) return;
    ended = true;
    clearInterval(watchClosed);
    clearTimeout(noAnswer);
    window.removeEventListener('message', onMessage);
    if (popup.closed) return;
    if (outcome === 'cancelled') popup.close();
    // Settled: the window closes itself once it has shown its answer (or at once if idle).
    else popup.postMessage({ source: confirmSource, type: 'settled' }, location.origin);
  };
  const onMessage = (event: MessageEvent) => {
    if (event.source !== popup || event.origin !== location.origin || !isConfirmMessage(event.data)) return;
    const message = event.data;
    if (message.type === 'ready' && !ready) {
      ready = true;
      popup.postMessage(request, location.origin);
    } else if (message.type === 'cancelled') {
      end('cancelled');
      on.gone();
    } else if (message.type === 'busy') on.busy?.();
    else if (message.type === 'done') on.done(message);
    else if (message.type === 'failed') on.failed(message.code);
  };
  const watchClosed = setInterval(() => {
    if (!popup.closed) return;
    end('cancelled');
    on.gone();
  }, 500);
  const noAnswer = setTimeout(() => {
    if (ready) return;
    end('cancelled');
    on.noAnswer();
  }, 5_000);
  window.addEventListener('message', onMessage);
  return { popup, end };
}

/**
 * Release and Report, like Pay, are confirmed in the bank's own window (`bankWindow`): the
 * shop that frames this iframe is the seller, and could hide it under a decoy. A failure there
 * may still be retried there, so the page hears of it once the buyer gives up.
 */
function openConfirmation(actions: HTMLElement, action: Decision, account: AccountView): void {
  endConfirmation('cancelled');
  const previous = [...actions.querySelectorAll('button')];
  let lastFailure: string | undefined;
  /** Release and Report offered again, with the bank's own page: focus stays on the button. */
  const offerBankPage = () => {
    // The account as now shown: a shipment that came meanwhile changed the buttons.
    if (order.view) order.view.actionsKey = decideKey(order.lastAccount ?? account);
    keepingFocus(
      actions,
      () => actions.replaceChildren(windowFailed(account.code), ...previous),
      () => actions.querySelector('button'),
    );
    announce(t.windowFailed);
  };
  const restore = () => {
    endConfirmation('cancelled');
    if (lastFailure) failed(lastFailure);
    if (order.lastAccount) {
      // Release and Report again; focus, if it was on this window's buttons, back on Release.
      order.shownVersion = -1;
      renderOrder(order.lastAccount);
    }
    void refresh();
  };
  const opened = bankWindow(
    `&account=${encodeURIComponent(account.code)}`,
    {
      source: confirmSource,
      type: 'request',
      action,
      code: account.code,
      payeeName: account.parties.find((party) => party.role === 'seller')?.displayName ?? '',
      amountText: formatAmount(account.balanceMinor, account.currency, config.lang),
      token: session?.token ?? '',
    },
    {
      done: (message) => decided(message.action as Decision, message.account),
      failed: (code) => {
        lastFailure = code;
      },
      gone: () => order.confirmation === opened && restore(),
      noAnswer: () => {
        if (order.confirmation !== opened) return;
        endConfirmation('cancelled');
        offerBankPage();
      },
    },
  );
  if (!opened) {
    offerBankPage();
    return;
  }
  order.confirmation = opened;
  if (order.view) order.view.actionsKey = 'confirming';
  const showAgain = h('button', { type: 'button', class: 'primary' }, t.showWindow);
  const cancel = h('button', { type: 'button', class: 'secondary' }, t.cancel);
  showAgain.addEventListener('click', () => opened.popup.focus());
  cancel.addEventListener('click', restore);
  // Focus, if it was on Release, goes to its stand-in while the window is open (then, once it
  // decides, to the heading; if it is given up, back to Release).
  keepingFocus(
    actions,
    () => actions.replaceChildren(h('p', {}, t.confirmInWindow), showAgain, cancel),
    () => showAgain,
  );
  announce(t.confirmInWindow);
}

/** Whether the logged-in customer is the deal's buyer. */
function isBuyer(account: AccountView): boolean {
  return account.parties.some((party) => party.customerId === session?.customerId && party.role === 'buyer');
}

/** Answers to a retried payment that say nothing of whether the lost try went through. */
const refusedBeforePaying = new Set([
  'rate_limited',
  'unauthenticated',
  'forbidden',
  'conflict',
  'csrf_failed',
]);

/** The radio value of "Pay later" among the accounts to pay from. */
const payLaterValue = 'later';

/**
 * What a deal awaiting the buyer's money asks of the buyer: the amount still due and the fee,
 * paid in on the bank's page for the deal (its pay-in form, or how to remit from outside).
 */
function payInHint(account: AccountView): HTMLElement {
  const money = (minor: number) => formatAmount(minor, account.currency, config.lang);
  const payBy = account.deadlines?.payBy;
  const text = account.deadlines?.cancelled
    ? t.cancelledBySeller
    : account.deadlines?.payMissed
      ? t.payMissed
      : t.payInNext(
          money(account.amountDueMinor ?? account.requiredMinor),
          account.creationFeeDueMinor ? money(account.creationFeeDueMinor) : null,
          payBy ? formatDate(payBy, config.lang) : null,
        );
  return h('p', { 'data-field': 'pay-in' }, `${text} `, bankPageLink(account.code));
}

function bankPageLink(code: string): HTMLElement {
  return h(
    'a',
    {
      href: `/bank/temporary-accounts/${encodeURIComponent(code)}`,
      target: '_blank',
      rel: 'noopener noreferrer',
    },
    t.bankPage,
  );
}

/** Where to go when the bank's window cannot open here: the bank's own page for the payment. */
function windowFailed(code: string): HTMLElement {
  return h('p', { class: 'alert', role: 'alert' }, `${t.windowFailed} `, bankPageLink(code));
}

function endConfirmation(outcome: 'cancelled' | 'settled'): void {
  order.confirmation?.end(outcome);
  order.confirmation = undefined;
}

function decided(action: Decision, account: AccountView): void {
  order.problem = '';
  endConfirmation('settled');
  renderOrder(account);
  announce(action === 'accept' ? t.released : t.rejected);
}

/** The bank refused, and the buyer gave up in the window: the order view and the page say so. */
function failed(code: string): void {
  const text = code === 'not_found' ? t.notYours : t.failed;
  order.problem = text;
  announce(text);
  emit({ type: 'error', code, message: text });
}

if (config.mode === 'confirm') confirmationWindow(t, config.lang);
else void (config.mode === 'pay' ? payMode() : orderMode());
