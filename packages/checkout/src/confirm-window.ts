import { Attention } from './attention.ts';
import type { Dictionary, Lang } from './i18n.ts';
import {
  type AccountView,
  alertBox,
  type ConfirmMessage,
  callApi,
  codeOf,
  confirmSource,
  h,
  isConfirmMessage,
} from './ui.ts';

/**
 * The bank's confirmation window (`/widget/confirm`), opened by the order iframe when the
 * buyer asks to release the payment or report a problem. It is a top-level page on the
 * gateway's origin that no page may frame, so a shop cannot hide it or lay a decoy over it.
 *
 * It takes its request (and the buyer's session) only from the window that opened it, on the
 * same origin. Confirm counts only clicks `Attention` lets through (armed after a second of
 * this window visible and focused, without a press; a pointer click after a move): a window
 * raised under the cursor, or one clicked at in a hurry, cannot be confirmed by the click that
 * was meant for something else. Keyboard users Tab to Confirm (focus starts on Cancel). It
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
        h('a', { href: `/bank/temporary-accounts/${encodeURIComponent(code)}` }, t.bankPage),
      ),
    );
    return;
  }
  const tell = (message: ConfirmMessage) => {
    if (!opener.closed) opener.postMessage(message, location.origin);
  };
  let requested = false;
  let settled = () => window.close();
  window.addEventListener('message', (event) => {
    if (event.source !== opener || event.origin !== location.origin) return;
    const message = event.data;
    if (!isConfirmMessage(message)) return;
    if (message.type === 'settled') settled();
    if (requested || message.type !== 'request') return;
    if ((message.action !== 'accept' && message.action !== 'reject') || !message.token) return;
    requested = true;
    render(message);
  });
  tell({ source: confirmSource, type: 'ready' });

  function render(request: Extract<ConfirmMessage, { type: 'request' }>): void {
    const accepting = request.action === 'accept';
    const reason = accepting ? null : h('textarea', { id: 'reason', maxlength: '500', rows: '3' });
    const confirm = h('button', { type: 'button', class: 'primary', 'aria-disabled': 'true' }, t.confirm);
    const cancel = h('button', { type: 'button', class: 'secondary' }, t.cancel);
    const outcome = h('div', { role: 'status' });
    // One key per confirmation: a retry after a lost answer applies once.
    const idempotencyKey = `widget-${request.action}-${crypto.randomUUID()}`;
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
      if (busy || done || !attention.counts(event)) return;
      busy = true;
      attention.hold();
      cancel.disabled = true;
      confirm.textContent = accepting ? t.releasing : t.reporting;
      outcome.replaceChildren();
      const text = reason?.value.trim();
      try {
        const account = await callApi<AccountView>(
          'POST',
          `/v1/temporary-accounts/${encodeURIComponent(request.code)}/${request.action}`,
          { token: request.token, body: text ? { reason: text } : {}, idempotencyKey },
        );
        done = true;
        tell({ source: confirmSource, type: 'done', action: request.action, account });
        outcome.replaceChildren(
          h('p', { class: 'success' }, accepting ? t.released : t.rejected),
          h('p', {}, t.windowCloses),
        );
        confirm.remove();
        cancel.remove();
        setTimeout(() => window.close(), 1_500);
      } catch (error) {
        const code = codeOf(error);
        tell({ source: confirmSource, type: 'failed', action: request.action, code });
        outcome.replaceChildren(alertBox(code === 'not_found' ? t.notYours : t.failed));
        cancel.disabled = false;
        confirm.textContent = t.confirm;
        busy = false;
        attention.resume();
      }
    });
    root.replaceChildren(
      h(
        'div',
        { class: 'confirm' },
        h('h1', {}, accepting ? t.release : t.reportProblem),
        h('p', {}, accepting ? t.releaseConfirm : t.reportConfirm),
        h(
          'dl',
          {},
          h('dt', {}, t.temporaryAccount),
          h('dd', {}, request.code),
          h('dt', {}, t.inAccount),
          h('dd', { class: 'amount' }, request.amountText),
        ),
        reason ? h('label', { for: 'reason' }, t.reason) : null,
        reason,
        outcome,
        h('div', { class: 'actions' }, confirm, cancel),
      ),
    );
    cancel.focus();
  }
}
