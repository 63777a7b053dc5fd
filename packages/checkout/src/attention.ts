/**
 * Clicks that count only from someone looking at this page: the defence of the bank's
 * confirmation window and of the bank's own pages against clickjacking by timing
 * (double-clickjacking), where another page opens or raises ours under the cursor just
 * before a click that was meant for something else.
 *
 * The guard arms once the page has been visible and focused for `delayMs` without a break and
 * without a press: losing focus or visibility disarms it, regaining focus starts over, and a
 * press (a pointer, Enter or Space) while it is not armed starts the wait again, so clicking fast never
 * gets through. Armed, a mouse click counts only after a mouse move made since arming (a cursor
 * left standing where the page appeared is not aiming at it); a tap or a pen press, and a
 * keyboard press (a click with `detail` 0: Enter or Space on a focused button, or Enter in a
 * field), count at once.
 */
/** Keys that press a focused button or submit a form; typing other keys changes nothing. */
const activatingKeys = new Set(['Enter', ' ']);

export class Attention {
  private armed = false;
  private moved = false;
  /** Of the last press: a finger or a pen lands where it taps, there is no cursor to move. */
  private pointerType = '';
  private held = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly delayMs: number;
  private readonly onChange: (armed: boolean) => void;

  constructor(delayMs: number, onChange: (armed: boolean) => void) {
    this.delayMs = delayMs;
    this.onChange = onChange;
    const restart = () => this.restart();
    window.addEventListener('focus', restart);
    window.addEventListener('blur', () => this.disarm());
    document.addEventListener('visibilitychange', restart);
    window.addEventListener(
      'pointerdown',
      (event) => {
        this.pointerType = event.pointerType;
        if (!this.armed) this.restart();
      },
      true,
    );
    window.addEventListener(
      'keydown',
      (event) => this.armed || !activatingKeys.has(event.key) || this.restart(),
      true,
    );
    window.addEventListener('pointermove', () => {
      if (this.armed) this.moved = true;
    });
    this.restart();
  }

  get isArmed(): boolean {
    return this.armed;
  }

  /** Whether this click counts (see the class comment). */
  counts(event: MouseEvent): boolean {
    const byMouse = event.detail > 0 && this.pointerType !== 'touch' && this.pointerType !== 'pen';
    return event.isTrusted && this.armed && (!byMouse || this.moved);
  }

  /** No arming until `resume` (while a request is on its way, or once it is done). */
  hold(): void {
    this.held = true;
    this.disarm();
  }

  resume(): void {
    this.held = false;
    this.restart();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    if (this.armed) {
      this.armed = false;
      this.onChange(false);
    }
  }

  private restart(): void {
    this.disarm();
    if (this.held || !this.attentive()) return;
    this.timer = setTimeout(() => {
      if (this.held || !this.attentive()) return;
      this.armed = true;
      this.moved = false;
      this.onChange(true);
    }, this.delayMs);
  }

  private attentive(): boolean {
    return document.visibilityState === 'visible' && document.hasFocus();
  }
}
