/**
 * The only thing the host page and the bank's iframe exchange: events from the iframe to the
 * page, posted with the page's exact origin as target, and accepted by the page only from the
 * gateway's exact origin and the iframe's own window. Never a password, a session or a token.
 */
export const messageSource = 'lockstep-checkout';

export type WidgetEvent =
  | { type: 'ready'; mode: 'pay' | 'order' }
  | { type: 'paid'; code: string }
  /** The buyer opened the deal to pay later (rule 7): the account awaits its money. */
  | { type: 'opened'; code: string }
  | { type: 'released'; code: string }
  | { type: 'rejected'; code: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'resize'; heightPx: number };

export interface WidgetMessage {
  source: typeof messageSource;
  /** The frame's instance id, so two widgets on one page never mix their events. */
  instance: string;
  event: WidgetEvent;
}

export function isWidgetMessage(value: unknown): value is WidgetMessage {
  if (typeof value !== 'object' || value === null) return false;
  const message = value as Partial<WidgetMessage>;
  return (
    message.source === messageSource &&
    typeof message.instance === 'string' &&
    typeof message.event === 'object' &&
    message.event !== null &&
    typeof (message.event as { type?: unknown }).type === 'string'
  );
}

/** CSS custom properties a shop may set on the element; forwarded to the iframe's theme. */
export const themeProperties = [
  '--lockstep-accent',
  '--lockstep-accent-text',
  '--lockstep-background',
  '--lockstep-text',
  '--lockstep-muted',
  '--lockstep-border',
  '--lockstep-radius',
  '--lockstep-font',
] as const;
