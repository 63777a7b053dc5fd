import { Attention } from './attention.ts';
import { type Dictionary, type Lang, payFailureText } from './i18n.ts';
import {
  type AccountView,
  alertBox,
  type ConfirmMessage,
  type ConfirmRequest,
  callApi,
  codeOf,
  confirmSource,
  h,
  isConfirmMessage,
  isTransient,
} from './ui.ts';

/**
 * The bank's confirmation window (`/widget/confirm`), opened by the checkout iframe when the
 * buyer pays, and by the order iframe when the buyer releases the payment or reports a
 * problem. It is a top-level page on the gateway's origin that no page may frame, so a shop
 * cannot hide it or lay a decoy over it.
 *
 * It takes its request (and the buyer's session) only from the window that opened it, on the
 * same origin. Confirm counts only clicks `Attention` lets through (armed after a second of
 * this window visible and focused, without a press; a pointer click after a move): a window
 * raised under the cursor, or one clicked at in a hurry, cannot be confirmed by the click that
 * was meant for something else. Keyboard users Tab to Confirm (focus starts on Cancel), as do
 * screen readers, whose simulated click on the focused button counts. A click that does not
 * count says why in the window's status line. It
 * reports the outcome to its opener and closes once done.
 */
const armDelayMs = 1_000;

export function confirmationWindow(t: Dictionary, lang: Lang): void {
  const root = document.getElementById('app') as HTMLElement;
  const opener = window.opener as Window | null;
  document.title = t.confirmWindowTitle;
  document.documentElement.lang = lang;
  if (!opener) {
    // Opened without the iframe behind it (the page cut the link, say): the bank's page can.
    const code = new URLSearchParams(location.search).get('account') ?? '';
    root.replaceChildren(
      h('h1', {}, t.confirmWindowTitle),
      h(
        'p',
        { class: 'alert', role: 'alert' },
        `${t.confirmOnBankPage} `,
        h('a', { href: code ? `/bank/temporary-accounts/${encodeURIComponent(code)}` : '/bank' }, t.bankPage),
      ),
    );
    return;
  }
  const iframe: Window = opener;
  const tell = (message: ConfirmMessage) => {
    if (!iframe.closed) iframe.postMessage(message, location.origin);
  };
  let requested = false;
  let settled = () => window.close();
  window.addEventListener('message', (event) => {
    if (event.source !== iframe || event.origin !== location.origin) return;
    const message = event.data;
    if (!isConfirmMessage(message)) return;
    if (message.type === 'settled') settled();
    if (requested || message.type !== 'request') return;
    if (!['accept', 'reject', 'pay'].includes(message.action) || !message.token) return;
    requested = true;
    render(message);
  });
  tell({ source: confirmSource, type: 'ready' });

  function render(request: ConfirmRequest): void {
    const spec = request.action === 'pay' ? payment(request) : decision(request);
    const confirm = h(
      'button',
      { type: 'button', class: 'primary', 'aria-disabled': 'true' },
      spec.confirmLabel,
    );
    const cancel = h('button', { type: 'button', class: 'secondary' }, t.cancel);
    const outcome = h('div', { role: 'status' });
    // Below the buttons, so that showing it never moves them under the pointer.
    const hint = h('p', { role: 'status', class: 'hint' });
    let busy = false;
    let done = false;
    const attention = new Attention(armDelayMs, (armed) =>
      confirm.setAttribute('aria-disabled', String(!armed)),
    );
    settled = () => {
      // The iframe saw the decision made: close unless our own answer is on its way or shown.
      if (!busy && !done) window.close();
    };
    cancel.addEventListener('click', () => {
      if (busy) return;
      tell({ source: confirmSource, type: 'cancelled' });
      window.close();
    });
    confirm.addEventListener('click', async (event) => {
      if (busy || done || !event.isTrusted) return;
      const refused = attention.refusal(event);
      if (refused) {
        // Said, not silently dropped: someone pressing it on purpose learns what to do.
        hint.textContent = refused === 'wait' ? t.confirmWait : t.confirmAim;
        return;
      }
      hint.textContent = '';
      if (iframe.closed) {
        // The page that asked is gone (the shop removed it, or its tab closed): do nothing.
        done = true;
        attention.hold();
        outcome.replaceChildren(alertBox(t.openerGone));
        confirm.remove();
        return;
      }
      busy = true;
      tell({ source: confirmSource, type: 'busy' });
      attention.hold();
      cancel.disabled = true;
      confirm.textContent = spec.busyLabel;
      outcome.replaceChildren();
      try {
        const account = await withRetries(spec.perform, () =>
          outcome.replaceChildren(h('p', {}, t.retrying)),
        );
        done = true;
        tell({ source: confirmSource, type: 'done', action: request.action, account });
        // Nobody left to end the session the iframe handed over: end it here.
        if (iframe.closed) {
          await callApi('DELETE', '/v1/sessions/current', { token: request.token }).catch(() => {});
        }
        outcome.replaceChildren(h('p', { class: 'success' }, spec.success), h('p', {}, t.windowCloses));
        confirm.remove();
        cancel.remove();
        setTimeout(() => window.close(), 1_500);
      } catch (error) {
        const code = codeOf(error);
        tell({ source: confirmSource, type: 'failed', action: request.action, code });
        outcome.replaceChildren(alertBox(spec.failure(code)));
        cancel.disabled = false;
        confirm.textContent = spec.confirmLabel;
        busy = false;
        attention.resume();
      }
    });
    root.replaceChildren(
      h(
        'div',
        { class: 'confirm' },
        h('h1', {}, spec.title),
        h('p', {}, spec.question),
        h('dl', {}, ...spec.facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)])),
        ...spec.fields,
        outcome,
        // Cancel first: focus starts there, and Tab goes on to Confirm (helper-48's review:
        // Tab from Cancel left the page). Shown in that order too.
        h('div', { class: 'actions' }, cancel, confirm),
        hint,
      ),
    );
    document.title = `${spec.title} · ${t.confirmWindowTitle}`;
    cancel.focus();
  }

  /** What the window shows and does for one kind of request. */
  interface Spec {
    title: string;
    question: string;
    facts: Array<[string, string]>;
    fields: HTMLElement[];
    confirmLabel: string;
    busyLabel: string;
    success: string;
    perform(): Promise<AccountView>;
    failure(code: string): string;
  }

  function decision(request: Extract<ConfirmRequest, { action: 'accept' | 'reject' }>): Spec {
    const accepting = request.action === 'accept';
    const reason = accepting ? null : h('textarea', { id: 'reason', maxlength: '500', rows: '3' });
    // One key per confirmation: a retry after a lost answer applies once.
    const idempotencyKey = `widget-${request.action}-${crypto.randomUUID()}`;
    return {
      title: accepting ? t.release : t.reportProblem,
      question: accepting ? t.releaseConfirm : t.reportConfirm,
      facts: [
        [t.payee, request.payeeName],
        [t.temporaryAccount, request.code],
        [t.inAccount, request.amountText],
      ],
      fields: reason ? [h('label', { for: 'reason' }, t.reason), reason] : [],
      confirmLabel: t.confirm,
      busyLabel: accepting ? t.releasing : t.reporting,
      success: accepting ? t.released : t.rejected,
      perform: () => {
        const text = reason?.value.trim();
        return callApi<AccountView>(
          'POST',
          `/v1/temporary-accounts/${encodeURIComponent(request.code)}/${request.action}`,
          { token: request.token, body: text ? { reason: text } : {}, idempotencyKey },
        );
      },
      failure: (code) => (code === 'not_found' ? t.notYours : t.failed),
    };
  }

  function payment(request: Extract<ConfirmRequest, { action: 'pay' }>): Spec {
    const later = request.payLater === true;
    return {
      title: t.payTitle,
      question: later ? t.payLaterConfirm : t.payConfirm,
      facts: [
        [t.payee, request.payeeName],
        [t.amount, request.amountText],
        ...(request.feeText && request.totalText
          ? [
              [t.bankFee, request.feeText] as [string, string],
              [t.total, request.totalText] as [string, string],
            ]
          : []),
        [t.order, request.orderReference],
        ...(request.accountName && !later ? [[t.fromAccount, request.accountName] as [string, string]] : []),
      ],
      fields: [],
      confirmLabel: later ? t.payLaterButton : t.confirmPay(request.totalText ?? request.amountText),
      busyLabel: later ? t.opening : t.paying,
      success: later ? t.opened : t.paid,
      perform: () =>
        callApi<AccountView>('POST', '/v1/temporary-accounts', {
          token: request.token,
          body: {
            invoice: request.invoice,
            ...(later ? { payLater: true } : request.fundFrom ? { fundFrom: request.fundFrom } : {}),
          },
          idempotencyKey: request.idempotencyKey,
        }),
      failure: (code) => payFailureText(t, code),
    };
  }
}

/** Tries again (same request, same key) while the failure may not have happened; 5 tries. */
async function withRetries<T>(attempt: () => Promise<T>, onRetry: () => void): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isTransient(codeOf(error)) || tries >= 5) throw error;
      onRetry();
      await new Promise((resolve) => setTimeout(resolve, 500 * tries));
    }
  }
}
