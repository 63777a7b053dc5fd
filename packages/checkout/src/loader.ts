import { isWidgetMessage, themeProperties, type WidgetEvent } from './protocol.ts';

/**
 * The checkout loader, served by the gateway at `/checkout.js`. A shop adds
 *
 *   <script src="https://gateway.bank.example/checkout.js" defer></script>
 *   <lockstep-checkout mode="pay" invoice="..." publishable-key="pk_..."></lockstep-checkout>
 *
 * (or calls `Lockstep.mount(element, options)`). The element only hosts an iframe from the
 * gateway's origin: the buyer's user ID, password and session live in that iframe, which the
 * shop's page cannot read. The page gets DOM events (`ready`, `paid`, `released`, `rejected`,
 * `error`) with a `detail`, and nothing else. Messages are accepted only from the gateway's
 * exact origin and from this element's own iframe.
 */
export interface MountOptions {
  mode: 'pay' | 'order';
  publishableKey: string;
  /** Pay mode: the signed invoice from the shop's backend. */
  invoice?: string;
  /** Order mode: the temporary account code. */
  account?: string;
  lang?: 'en' | 'ja';
  /** The gateway's origin (default: where this script came from). */
  gateway?: string;
}

const scriptOrigin = (() => {
  const current =
    typeof document !== 'undefined' ? (document.currentScript as HTMLScriptElement | null) : null;
  try {
    return current?.src ? new URL(current.src).origin : undefined;
  } catch {
    return undefined;
  }
})();

let instances = 0;

/** The iframe's name, in the widget's language (its own words are in the iframe's i18n.ts). */
const titles = {
  en: { pay: 'Bank payment', order: 'Bank payment status' },
  ja: { pay: '銀行でのお支払い', order: '銀行でのお支払いの状況' },
};

/** Mounts the widget into `host`; returns a function that removes it. */
export function mount(host: HTMLElement, options: MountOptions): () => void {
  const gateway = new URL(options.gateway ?? scriptOrigin ?? location.origin).origin;
  const instance = `w${++instances}-${Math.random().toString(36).slice(2, 10)}`;
  const url = new URL('/widget/frame', gateway);
  url.searchParams.set('mode', options.mode);
  url.searchParams.set('pk', options.publishableKey);
  url.searchParams.set('origin', location.origin);
  url.searchParams.set('instance', instance);
  const lang = options.lang ?? (document.documentElement.lang || navigator.language || 'en');
  url.searchParams.set('lang', lang);
  if (options.invoice) url.searchParams.set('invoice', options.invoice);
  if (options.account) url.searchParams.set('account', options.account);
  const styles = getComputedStyle(host);
  for (const property of themeProperties) {
    const value = styles.getPropertyValue(property).trim();
    if (value && value.length <= 100) url.searchParams.set(`t${property.slice('--lockstep'.length)}`, value);
  }

  const frame = document.createElement('iframe');
  frame.src = url.toString();
  // As the iframe picks its language (i18n.ts pickLang): Japanese for any `ja` tag.
  frame.title =
    titles[lang.toLowerCase().startsWith('ja') ? 'ja' : 'en'][options.mode === 'pay' ? 'pay' : 'order'];
  frame.setAttribute('allow', '');
  frame.style.cssText = 'display:block;width:100%;border:0;min-height:120px;color-scheme:normal';
  frame.height = '320';

  // A refused frame (unknown key, unregistered origin) shows nothing and says nothing: tell the
  // page when the widget has not reported in time.
  let heard = false;
  const silence = setTimeout(() => {
    if (!heard) {
      host.dispatchEvent(
        new CustomEvent('error', {
          detail: {
            code: 'widget_unavailable',
            message: 'The checkout did not load: check the publishable key and the registered origins.',
          },
          bubbles: true,
          composed: true,
        }),
      );
    }
  }, 15_000);
  const onMessage = (message: MessageEvent) => {
    if (message.origin !== gateway || message.source !== frame.contentWindow) return;
    if (!isWidgetMessage(message.data) || message.data.instance !== instance) return;
    heard = true;
    const event: WidgetEvent = message.data.event;
    if (event.type === 'resize') {
      if (Number.isFinite(event.heightPx))
        frame.height = String(Math.max(120, Math.min(4_000, Math.ceil(event.heightPx))));
      return;
    }
    const { type, ...detail } = event;
    host.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  };
  window.addEventListener('message', onMessage);
  host.replaceChildren(frame);
  return () => {
    clearTimeout(silence);
    window.removeEventListener('message', onMessage);
    frame.remove();
  };
}

if (typeof customElements !== 'undefined' && !customElements.get('lockstep-checkout')) {
  customElements.define(
    'lockstep-checkout',
    class LockstepCheckout extends HTMLElement {
      private unmount: (() => void) | undefined;

      static get observedAttributes() {
        return ['mode', 'invoice', 'account', 'publishable-key', 'lang'];
      }

      connectedCallback() {
        this.render();
      }

      disconnectedCallback() {
        this.unmount?.();
        this.unmount = undefined;
      }

      attributeChangedCallback() {
        if (this.isConnected && this.unmount) this.render();
      }

      private render() {
        this.unmount?.();
        const mode = this.getAttribute('mode') === 'order' ? 'order' : 'pay';
        const publishableKey = this.getAttribute('publishable-key') ?? '';
        const lang = this.getAttribute('lang');
        this.unmount = mount(this, {
          mode,
          publishableKey,
          invoice: this.getAttribute('invoice') ?? undefined,
          account: this.getAttribute('account') ?? undefined,
          lang: lang === 'ja' || lang === 'en' ? lang : undefined,
          gateway: this.getAttribute('gateway') ?? undefined,
        });
      }
    },
  );
}

declare global {
  interface Window {
    Lockstep?: { mount: typeof mount };
  }
}
if (typeof window !== 'undefined') window.Lockstep = { ...window.Lockstep, mount };
