import { describe, expect, it } from 'vitest';
import { EventBus } from '../../packages/gateway/src/service/event-bus.ts';
import type { StoredEvent } from '../../packages/gateway/src/storage/store.ts';

const event = (seq: number): StoredEvent => ({
  id: `evt_${seq}`,
  type: 'lock.changed',
  accountCode: 'ta_1',
  seq,
  at: '2026-11-25T10:00:00.000Z',
  actor: 'cus_1',
  data: {},
});

describe('event bus', () => {
  it('a stream closing twice (abort, then finally) never silences a newer stream of the account', () => {
    const bus = new EventBus();
    const seen: number[] = [];
    const closeOld = bus.subscribe('ta_1', () => {});
    closeOld(); // the old stream aborts: its listener set is now empty...
    const closeNew = bus.subscribe('ta_1', (received) => seen.push(received.seq)); // ...a reload subscribes
    closeOld(); // ...and the old stream's `finally` unsubscribes again
    bus.publish([event(7)]);
    expect(seen).toEqual([7]);
    closeNew();
  });
});
