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
 * same origin; it acts only on a trusted click on Confirm, and Confirm is armed only after the
 * window has been visible for `armDelayMs`, so the second click of a double click that opened
 * it cannot land on Confirm. It reports the outcome to its opener and closes once done.
 */
const armDelayMs = 1_000;

export function confirmationWindow(t: Dictionary, lang: Lang): void {
  const root = document.getElementById('app') as HTMLElement;
  const opener = window.opener as Window | null;
  document.title = t.confirmWindowTitle;
  if (!opener) {
    root.replaceChildren(h('h1', {}, t.confirmWindowTitle), alertBox(t.confirmNoOpener));
    return;
  }
  const tell = (message: ConfirmMessage) => {
    if (!opener.closed) opener.postMessage(message, location.origin);
  };
  let requested = false;
  window.addEventListener('message', (event) => {
    if (requested || event.source !== opener || event.origin !== location.origin) return;
    const message = event.data;
    if (!isConfirmMessage(message) || message.type !== 'request') return;
    if ((message.action !== 'accept' && message.action !== 'reject') || !message.token) return;
    requested = true;
    render(message);
  });
  tell({ source: confirmSource, type: 'ready' });

  function render(request: Extract<ConfirmMessage, { type: 'request' }>): void {
    const accepting = request.action === 'accept';
    const reason = accepting ? null : h('textarea', { id: 'reason', maxlength: '500', rows: '3' });
    const confirm = h('button', { type: 'button', class: 'primary', disabled: true }, t.confirm);
    const cancel = h('button', { type: 'button', class: 'secondary' }, t.cancel);
    const outcome = h('div', { role: 'status' });
    // One key per confirmation: a retry after a lost answer applies once.
    const idempotencyKey = `widget-${request.action}-${crypto.randomUUID()}`;
    let busy = false;
    let armTimer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(armTimer);
      confirm.disabled = true;
      if (document.visibilityState !== 'visible') return;
      armTimer = setTimeout(() => {
        confirm.disabled = busy;
      }, armDelayMs);
    };
    document.addEventListener('visibilitychange', arm);
    cancel.addEventListener('click', () => {
      tell({ source: confirmSource, type: 'cancelled' });
      window.close();
    });
    confirm.addEventListener('click', async (event) => {
      if (!event.isTrusted || busy || confirm.disabled) return;
      busy = true;
      confirm.disabled = true;
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
        busy = false;
        cancel.disabled = false;
        confirm.textContent = t.confirm;
        arm();
      }
    });
    const form = h(
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
    );
    root.replaceChildren(form);
    document.documentElement.lang = lang;
    cancel.focus();
    arm();
  }
}
