/**
 * Runs `work` after `firstDelayMs`, then `intervalMs` after each run ends (never two at once),
 * on a timer that does not keep the process alive, until stopped. A run that fails is reported
 * to `onError` and the next one comes as usual.
 */
export class Periodic {
  private readonly work: () => Promise<unknown>;
  private readonly options: { firstDelayMs: number; intervalMs: number; onError: (error: unknown) => void };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    work: () => Promise<unknown>,
    options: { firstDelayMs: number; intervalMs: number; onError: (error: unknown) => void },
  ) {
    this.work = work;
    this.options = options;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const next = (delayMs: number) => {
      this.timer = setTimeout(() => {
        this.running = this.work()
          .catch(this.options.onError)
          .finally(() => {
            this.running = undefined;
            if (!this.stopped) next(this.options.intervalMs);
          });
      }, delayMs);
      this.timer.unref();
    };
    next(this.options.firstDelayMs);
  }

  /** Stops the timer and waits for a run in progress (the work checks `isStopped` to end early). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
