import { Attention } from '@lockstep/checkout/attention';
import { accountEventTypes } from '@lockstep/core';

/**
 * The bank pages' only script (CSP: script-src 'self'). It keeps a temporary account's status
 * live: on each Server-Sent Event it refetches the page and swaps the status section, so the
 * page shows every change as it happens without a reload. Forms work without it.
 */
const status = document.getElementById('status');
const streamUrl = status?.dataset.stream;
if (status && streamUrl) {
  const source = new EventSource(streamUrl);
  // One refresh at a time; events arriving meanwhile trigger one more, so none is lost.
  let refreshing = false;
  let again = false;
  const refresh = async () => {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const response = await fetch(location.pathname, { credentials: 'same-origin', cache: 'no-store' });
        const next = new DOMParser()
          .parseFromString(await response.text(), 'text/html')
          .getElementById('status');
        const typing = status.contains(document.activeElement) && document.activeElement?.tagName === 'INPUT';
        if (next && !typing) {
          status.replaceChildren(
            ...Array.from(next.childNodes).map((node) => document.importNode(node, true)),
          );
          markGuarded();
          status.dataset.updated = String(Date.now());
        } else if (next) {
          again = true; // try again once the customer leaves the field
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      } while (again);
    } finally {
      refreshing = false;
    }
  };
  for (const type of accountEventTypes) {
    source.addEventListener(type, () => void refresh());
  }
  window.addEventListener('pagehide', () => source.close());
}

/**
 * The forms that move money or decide a deal (`data-guarded`) take only clicks from someone
 * looking at this page (see Attention): another site may open this page in a window placed so
 * that its buttons sit under the cursor, just before a click meant for that site. Until the page
 * has had a second of the customer's attention their buttons are aria-disabled, and a submit
 * the guard does not count is stopped.
 */
const guardedButtons = () => document.querySelectorAll<HTMLButtonElement>('form[data-guarded] button');
const attention = new Attention(1_000, () => markGuarded());
function markGuarded(): void {
  for (const button of Array.from(guardedButtons())) {
    button.setAttribute('aria-disabled', String(!attention.isArmed));
  }
}
markGuarded();
/** Says why a click did not count (helper-48's review: it was dropped without a word). */
const guardNote = document.createElement('p');
guardNote.setAttribute('role', 'status');
guardNote.className = 'guard-note';
document.querySelector('main')?.append(guardNote);
document.addEventListener(
  'click',
  (event) => {
    const button = (event.target as Element | null)?.closest?.('form[data-guarded] button');
    if (!button) return;
    const refused = event.isTrusted ? attention.refusal(event) : 'wait';
    if (refused === undefined) {
      guardNote.textContent = '';
      return;
    }
    event.preventDefault();
    guardNote.textContent =
      refused === 'wait'
        ? 'This button is ready in a moment: look over the page first.'
        : 'To use this button, move the pointer onto it and click it, or Tab to it and press Enter.';
  },
  true,
);

// Disable a form's button once submitted (delegated: the live region replaces its forms); with
// the form's idempotency key, a second click would change nothing anyway.
document.addEventListener('submit', (event) => {
  const form = event.target as HTMLFormElement;
  setTimeout(() => {
    for (const button of Array.from(form.querySelectorAll('button'))) button.disabled = true;
  });
});
