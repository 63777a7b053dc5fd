import { Attention } from '@lockstep/checkout/attention';
import { accountEventTypes } from '@lockstep/core';

/**
 * The bank pages' only script (CSP: script-src 'self'). It keeps a temporary account's status
 * live: on each Server-Sent Event it refetches the page and updates it in place, so the page
 * shows every change as it happens without a reload. Forms work without it.
 *
 * What it updates is not a live region (the accessibility review: the whole page, menu
 * and history included, was one, re-read and rebuilt with every event, which threw the keyboard
 * focus to the body): `#status` (the facts and the locks, no controls) and the history are
 * swapped; the menu is patched, a form that did not change staying as it is (with what is typed
 * in it and the focus); `#live-summary` says in one line what changed.
 */
// What the last form did (`?notice=`, `?error=&form=`) is said once: the address loses it, so a
// reload or a bookmark does not say again "Paid in" or a refusal of long ago.
const shown = new URL(location.href);
if (['notice', 'error', 'form'].some((name) => shown.searchParams.has(name))) {
  for (const name of ['notice', 'error', 'form']) shown.searchParams.delete(name);
  history.replaceState(history.state, '', `${shown.pathname}${shown.search}${shown.hash}`);
}

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
        const next = new DOMParser().parseFromString(await response.text(), 'text/html');
        update(status, next);
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

function update(status: HTMLElement, next: Document): void {
  const nextStatus = next.getElementById('status');
  if (!nextStatus) return; // not the status page (the session ended, or the account is not ours)
  const changed = changedFacts(status, nextStatus);
  status.replaceChildren(...imported(nextStatus));
  const history = document.getElementById('history');
  const nextHistory = next.getElementById('history');
  if (history && nextHistory) history.replaceChildren(...imported(nextHistory));
  const menu = document.getElementById('menu');
  const nextMenu = next.getElementById('menu');
  if (menu && nextMenu) {
    const focusWasIn = menu.contains(document.activeElement);
    patch(menu, nextMenu);
    // The focused control went (Release, once released): the focus goes to the menu's heading,
    // never onto another button (see Attention: the page must not focus a guarded button).
    if (focusWasIn && !menu.contains(document.activeElement))
      document.getElementById('menu-heading')?.focus();
  }
  markGuarded();
  const summary = document.getElementById('live-summary');
  if (summary && changed.length > 0) summary.textContent = `Updated: ${changed.join('. ')}.`;
  // A refusal shown from before the account changed may no longer hold: it says so, once
  // (helper-78's review: it stayed as if it did).
  const refusal = document.getElementById('page-error');
  if (refusal && changed.length > 0 && !refusal.querySelector('.stale')) {
    const note = document.createElement('span');
    note.className = 'stale';
    note.textContent = ' (This was before the latest change: see the status below.)';
    refusal.append(note);
  }
  status.dataset.updated = String(Date.now());
}

function imported(parent: Element): Node[] {
  return Array.from(parent.childNodes).map((node) => document.importNode(node, true));
}

const text = (node: Element | null | undefined) => (node?.textContent ?? '').replace(/\s+/g, ' ').trim();

/** "Status: Funded; locked by buyer, seller", for each fact whose value changed. */
function changedFacts(before: Element, after: Element): string[] {
  const facts = (root: Element) =>
    new Map(
      Array.from(root.querySelectorAll('.facts dt')).map((term) => [
        text(term),
        text(term.nextElementSibling),
      ]),
    );
  const old = facts(before);
  return Array.from(facts(after))
    .filter(([term, value]) => old.get(term) !== value)
    .map(([term, value]) => `${term}: ${value}`);
}

/**
 * Makes `live` show `next` without touching what did not change: a node that is the same is
 * kept (never moved: moving a focused node drops its focus), a changed one that holds the focus
 * or something typed is patched in turn, any other is replaced.
 */
function patch(live: Element, next: Element): void {
  const olds = Array.from(live.childNodes);
  const kept = new Set<Node>();
  const plan: Node[] = [];
  let from = 0;
  for (const wanted of Array.from(next.childNodes)) {
    let match: Node | undefined;
    for (let index = from; index < olds.length; index++) {
      if (keyOf(olds[index] as Node) === keyOf(wanted)) {
        match = olds[index];
        from = index + 1;
        break;
      }
    }
    if (match && sameAs(match, wanted)) {
      kept.add(match);
      plan.push(match);
    } else if (match instanceof Element && wanted instanceof Element && holdsState(match)) {
      syncAttributes(match, wanted);
      patch(match, wanted);
      kept.add(match);
      plan.push(match);
    } else {
      plan.push(document.importNode(wanted, true));
    }
  }
  for (const old of olds) if (!kept.has(old)) old.remove();
  let cursor = live.firstChild;
  for (const node of plan) {
    if (kept.has(node)) cursor = node.nextSibling;
    else live.insertBefore(node, cursor);
  }
}

/** Whether replacing this element would lose the focus, what the customer typed, or a refusal's marks. */
function holdsState(element: Element): boolean {
  if (element.contains(document.activeElement)) return true;
  if (element.matches('[aria-invalid]') || element.querySelector('[aria-invalid]')) return true;
  const typed = (field: Element) =>
    (field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement) &&
    field.value !== field.defaultValue;
  return typed(element) || Array.from(element.querySelectorAll('input, textarea')).some(typed);
}

function keyOf(node: Node): string {
  if (!(node instanceof Element)) return `#${node.nodeType}`;
  return `${node.tagName}#${node.id}/${node.getAttribute('data-action') ?? ''}`;
}

/**
 * Attributes that are the page's own state rather than the server's: what the customer typed,
 * a refusal's marks, the click guard's, and the per-render idempotency key.
 */
const ownState = ['aria-disabled', 'disabled', 'aria-invalid', 'aria-describedby'];
function normalized(element: Element): string {
  const copy = element.cloneNode(true) as Element;
  for (const each of [copy, ...Array.from(copy.querySelectorAll('*'))]) {
    for (const name of ownState) each.removeAttribute(name);
    if (each instanceof HTMLInputElement && (each.type !== 'hidden' || each.name === 'idempotencyKey')) {
      each.removeAttribute('value');
    }
  }
  return copy.outerHTML;
}

function sameAs(live: Node, wanted: Node): boolean {
  if (live instanceof Element && wanted instanceof Element) return normalized(live) === normalized(wanted);
  return live.nodeType === wanted.nodeType && live.textContent === wanted.textContent;
}

function syncAttributes(live: Element, wanted: Element): void {
  for (const { name } of Array.from(live.attributes)) {
    if (!ownState.includes(name) && name !== 'value' && !wanted.hasAttribute(name))
      live.removeAttribute(name);
  }
  for (const { name, value } of Array.from(wanted.attributes)) {
    if (!ownState.includes(name) && name !== 'value') live.setAttribute(name, value);
  }
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

// Disable a form's button once submitted (delegated: live updates replace changed forms); with
// the form's idempotency key, a second click would change nothing anyway.
document.addEventListener('submit', (event) => {
  const form = event.target as HTMLFormElement;
  setTimeout(() => {
    for (const button of Array.from(form.querySelectorAll('button'))) button.disabled = true;
  });
});

// A refusal (`#page-error`) is focused on load, so a screen reader reads it at once: on a page
// loaded after a post, a role="alert" already there is not announced (the accessibility review).
document.getElementById('page-error')?.focus();
