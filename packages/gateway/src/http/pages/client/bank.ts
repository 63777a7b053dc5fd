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
  let pending = false;
  const refresh = async () => {
    if (pending) return;
    pending = true;
    try {
      const response = await fetch(location.pathname, { credentials: 'same-origin', cache: 'no-store' });
      const next = new DOMParser()
        .parseFromString(await response.text(), 'text/html')
        .getElementById('status');
      if (next)
        status.replaceChildren(...Array.from(next.childNodes).map((node) => document.importNode(node, true)));
      status.dataset.updated = String(Date.now());
    } finally {
      pending = false;
    }
  };
  for (const type of accountEventTypes) {
    source.addEventListener(type, () => void refresh());
  }
  window.addEventListener('pagehide', () => source.close());
}

// Disable a form's button once submitted: with its idempotency key, a second click changes nothing.
for (const form of Array.from(document.querySelectorAll('form'))) {
  form.addEventListener('submit', () => {
    for (const button of Array.from(form.querySelectorAll('button'))) button.disabled = true;
  });
}
