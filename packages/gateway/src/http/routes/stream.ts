import { streamSSE } from 'hono/streaming';
import type { StoredEvent } from '../../storage/store.ts';
import { anyPrincipal, bearerToken, type GatewayApp, resolvePrincipal } from '../context.ts';
import { eventView } from '../views.ts';

/** Heartbeat interval; the credentials are re-checked at each one, and before live events. */
const heartbeatMs = 15_000;
const backlogLimit = 500;

/**
 * Server-Sent Events for one temporary account's parties: first the history after
 * `Last-Event-ID`, then every new event as it commits. Subscribing before reading the history
 * and skipping what was already sent makes the hand-over gap-free and duplicate-free.
 */
export function streamRoutes(app: GatewayApp): void {
  app.get('/v1/temporary-accounts/:code/stream', async (c) => {
    const token = bearerToken(c);
    const principal = await anyPrincipal(c, token);
    const code = c.req.param('code');
    const { bank, bus } = c.get('gateway');
    const account = await bank.read((reader) => bank.partyAccount(reader, principal, code));
    const lastEventId = Number(c.req.header('last-event-id') ?? c.req.query('after') ?? 0);
    // A Last-Event-ID past the account's last event (its version is its last seq) names events
    // that do not exist: the stream goes on from the last one, rather than hold back every new
    // event until one reaches that number (helper-44's review).
    const afterSeq =
      Number.isSafeInteger(lastEventId) && lastEventId > 0 ? Math.min(lastEventId, account.version) : 0;

    return streamSSE(c, async (stream) => {
      let sentSeq = afterSeq;
      const pending: StoredEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribeOnce = bus.subscribe(code, (event) => {
        pending.push(event);
        wake?.();
      });
      let subscribed = true;
      const unsubscribe = () => {
        if (!subscribed) return;
        subscribed = false;
        unsubscribeOnce();
      };
      let checkedAtMs = Date.now();
      const stopOnShutdown = bus.onClose(() => stream.abort());
      stream.onAbort(() => {
        unsubscribe();
        stopOnShutdown();
        wake?.();
      });
      const send = async (event: StoredEvent) => {
        if (event.seq <= sentSeq) return;
        // A gap means events committed between our history read and the subscription: fetch them.
        if (event.seq > sentSeq + 1) {
          const missing = await bank.read((reader) =>
            reader.listEvents(code, sentSeq, event.seq - sentSeq - 1),
          );
          for (const earlier of missing) await write(earlier);
        }
        await write(event);
      };
      const write = async (event: StoredEvent) => {
        if (event.seq <= sentSeq) return;
        sentSeq = event.seq;
        await stream.writeSSE({
          id: String(event.seq),
          event: event.type,
          data: JSON.stringify(eventView(event)),
        });
      };
      try {
        // The whole history after Last-Event-ID, page by page, before going live.
        for (;;) {
          const history = await bank.read((reader) => reader.listEvents(code, sentSeq, backlogLimit));
          for (const event of history) await write(event);
          if (history.length < backlogLimit || stream.aborted) break;
        }
        // A first byte now, history or not: a client (or a proxy) otherwise saw nothing of the
        // stream until the next event or heartbeat, up to 15 s.
        if (sentSeq === afterSeq) await stream.write(': live\n\n');
        const stillValid = () =>
          resolvePrincipal(c, token).then(
            () => true,
            () => false,
          );
        while (!stream.aborted) {
          // Live events go out only while the session or key still holds: one logged out or
          // revoked (through any process) got up to a heartbeat period more of them
          // (helper-59's review). One check per batch of events.
          if (pending.length > 0) {
            checkedAtMs = Date.now();
            if (!(await stillValid())) break;
          }
          while (pending.length > 0) {
            const event = pending.shift() as StoredEvent;
            await send(event);
          }
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, heartbeatMs);
            timer.unref?.();
          });
          clearTimeout(timer);
          wake = undefined;
          // Every heartbeat period, busy or not, re-check the credentials: a stream ends with
          // its session or key.
          if (!stream.aborted && Date.now() - checkedAtMs >= heartbeatMs) {
            checkedAtMs = Date.now();
            if (!(await stillValid())) break;
            if (pending.length === 0) await stream.write(': heartbeat\n\n');
          }
        }
      } finally {
        unsubscribe();
        stopOnShutdown();
      }
    });
  });
}
