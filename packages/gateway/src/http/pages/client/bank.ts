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

// Disable a form's button once submitted (delegated: the live region replaces its forms); with
// the form's idempotency key, a second click would change nothing anyway.
document.addEventListener('submit', (event) => {
  const form = event.target as HTMLFormElement;
  setTimeout(() => {
    for (const button of Array.from(form.querySelectorAll('button'))) button.disabled = true;
  });
});
