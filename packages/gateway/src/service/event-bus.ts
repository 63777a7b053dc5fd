import type { StoredEvent } from '../storage/store.ts';

export type EventListener = (event: StoredEvent) => void;

/**
 * Fans committed events out to live listeners (SSE streams, the webhook worker) in this
 * process. A multi-process deployment feeds it from the database too (PostgreSQL
 * LISTEN/NOTIFY), so a change made through one process reaches clients of another.
 */
export class EventBus {
  private readonly byAccount = new Map<string, Set<EventListener>>();
  private readonly global = new Set<EventListener>();

  publish(events: StoredEvent[]): void {
    for (const event of events) {
      for (const listener of this.byAccount.get(event.accountCode) ?? []) listener(event);
      for (const listener of this.global) listener(event);
    }
  }

  subscribe(accountCode: string, listener: EventListener): () => void {
    let listeners = this.byAccount.get(accountCode);
    if (!listeners) {
      listeners = new Set();
      this.byAccount.set(accountCode, listeners);
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      // Only drop the entry if it is still this set (a newer subscriber may have made another).
      if (listeners.size === 0 && this.byAccount.get(accountCode) === listeners)
        this.byAccount.delete(accountCode);
    };
  }

  /** Listeners that end a live stream (the gateway stops, or the streams must catch up). */
  private readonly closers = new Set<() => void>();
  private closed = false;

  /**
   * Registers a live stream's closer. Once the streams were closed (the gateway is stopping),
   * a stream that opens after is closed at once: a client reconnecting on its kept-alive
   * connection during the drain held the stop to its whole grace (helper-67's review).
   */
  onClose(closer: () => void): () => void {
    if (this.closed) {
      queueMicrotask(closer);
      return () => {};
    }
    this.closers.add(closer);
    return () => this.closers.delete(closer);
  }

  /** The gateway is stopping: every live stream ends, and so does any opened from now on. */
  closeStreams(): void {
    this.closed = true;
    this.endStreams();
  }

  /**
   * Notices may have been missed (another process's events): the live streams end, and their
   * clients reconnect with Last-Event-ID and catch up from the store. Streams opened afterwards
   * stay open: this once shut every later stream of the process at once, for good, after any
   * PostgreSQL listener reconnect.
   */
  resyncStreams(): void {
    this.endStreams();
  }

  private endStreams(): void {
    for (const closer of this.closers) closer();
    this.closers.clear();
  }

  subscribeAll(listener: EventListener): () => void {
    this.global.add(listener);
    return () => this.global.delete(listener);
  }

  private readonly outboxListeners = new Set<() => void>();

  /**
   * Webhook deliveries may have become due: a unit of this process queued some, or another
   * process committed events (whose deliveries this process's worker may claim too). Units
   * that queued none do not wake the worker, so a store with no endpoints runs no claims.
   */
  announceOutbox(): void {
    for (const listener of this.outboxListeners) listener();
  }

  onOutbox(listener: () => void): () => void {
    this.outboxListeners.add(listener);
    return () => this.outboxListeners.delete(listener);
  }
}
