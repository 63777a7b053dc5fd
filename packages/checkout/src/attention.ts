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
 *
 * So does a click on the control that has the keyboard focus, when that focus moved there
 * while armed and not by a pointer press: a screen reader (NVDA, VoiceOver) moves the focus to
 * a button, then presses it with a simulated mouse click that no pointer move precedes
 * (helper-48's review: such users could never confirm). A page put under a cursor cannot give
 * its button that focus: a click there focuses it by pointer, which does not count, and a
 * focus the browser restores when the window is raised again arrives while the guard is
 * disarmed (any focus recorded before is forgotten at every disarm: helper-55's review found
 * a raised window taking a click on the button an earlier stray click had focused). The page
 * must never move the focus onto a guarded button itself.
 */
/** Keys that press a focused button or submit a form; typing other keys changes nothing. */
const activatingKeys = new Set(['Enter', ' ']);

export class Attention {
  private armed = false;
  private moved = false;
  /**
   * Where the pointer last was (any pointer event). A move counts only if it changed that:
   * Chromium may send a pointermove at the same point when the page changes under a resting
   * cursor (a live update swapping the button), and that is no move of the customer's.
   */
  private lastPoint: string | undefined;
  /** Of the last press: a finger or a pen lands where it taps, there is no cursor to move. */
  private pointerType = '';
  /** Between a pointer's press and its release: a focus change then came from the pointer. */
  private pressing = false;
  /** What the keyboard (or a screen reader) focused while armed, not a pointer press. */
  private focusedByKeyboard: EventTarget | null = null;
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
        this.lastPoint = pointOf(event);
        this.pointerType = event.pointerType;
        this.pressing = true;
        if (!this.armed) this.restart();
      },
      true,
    );
    const released = () => {
      this.pressing = false;
    };
    window.addEventListener('pointerup', released, true);
    window.addEventListener('pointercancel', released, true);
    document.addEventListener(
      'focusin',
      (event) => {
        this.focusedByKeyboard = this.armed && !this.pressing ? event.target : null;
      },
      true,
    );
    window.addEventListener(
      'keydown',
      (event) => this.armed || !activatingKeys.has(event.key) || this.restart(),
      true,
    );
    window.addEventListener('pointermove', (event) => {
      const point = pointOf(event);
      if (this.armed && point !== this.lastPoint) this.moved = true;
      this.lastPoint = point;
    });
    this.restart();
  }

  get isArmed(): boolean {
    return this.armed;
  }

  /** Whether this click counts (see the class comment). */
  counts(event: MouseEvent): boolean {
    return event.isTrusted && this.refusal(event) === undefined;
  }

  /**
   * Why a click does not count, to tell the customer: `wait` (not armed yet: the page is new,
   * was just raised, or was clicked in a hurry), `aim` (armed, but a mouse that has not moved
   * since); undefined when it counts.
   */
  refusal(event: MouseEvent): 'wait' | 'aim' | undefined {
    if (!this.armed) return 'wait';
    const byMouse = event.detail > 0 && this.pointerType !== 'touch' && this.pointerType !== 'pen';
    if (!byMouse || this.moved) return undefined;
    const focused = this.focusedByKeyboard;
    const onFocused =
      focused instanceof Node &&
      document.activeElement === focused &&
      event.target instanceof Node &&
      focused.contains(event.target);
    return onFocused ? undefined : 'aim';
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
    this.focusedByKeyboard = null;
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

function pointOf(event: PointerEvent): string {
  return `${event.screenX},${event.screenY}`;
}
