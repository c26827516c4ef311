// The coarse wheel for the long timers, and what transactions let go of once their
// state no longer needs it (the slow path's GC work, see timer-wheel.ts).

import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/sip/clock.js';
import { createResponse } from '../../../src/sip/message.js';
import type { InviteClientTransaction } from '../../../src/sip/transaction/invite-client.js';
import { TimerWheel, WheelLane, type WheelEntry } from '../../../src/sip/transaction/timer-wheel.js';
import { CLIENT, Harness, SERVER, invite, recordingHandlers, register, responseTo, type ClientEvent } from './harness.js';

class Entry implements WheelEntry {
  wheelDue = 0;
  wheelPrev: WheelEntry | null = null;
  wheelNext: WheelEntry | null = null;
  wheelLane: WheelLane | null = null;
  firedAt: number | undefined;
  constructor(
    private readonly clock: FakeClock,
    readonly name: string,
    private readonly log: string[],
    private readonly then?: () => void,
  ) {}
  onWheelTimer(): void {
    this.firedAt = this.clock.now();
    this.log.push(`${this.name}@${this.clock.now()}`);
    this.then?.();
  }
}

describe('TimerWheel', () => {
  it('exact mode (granularity 1) fires each entry at its due time, in due order across lanes', () => {
    const c = new FakeClock();
    const w = new TimerWheel(c, 1);
    const log: string[] = [];
    const a = new Entry(c, 'a', log);
    const b = new Entry(c, 'b', log);
    const k = new Entry(c, 'k', log);
    w.schedule(a, 32_000);
    c.advance(10);
    w.schedule(b, 32_000);
    w.schedule(k, 5_000); // shorter lane, set later, due first
    expect(c.pending()).toBe(1); // one driver timer for all
    c.advance(40_000);
    expect(log).toEqual(['k@5010', 'a@32000', 'b@32010']);
    expect(w.size).toBe(0);
    expect(c.pending()).toBe(0);
  });

  it('coarse mode fires no earlier than due and less than one granule late, with one wake-up per granule', () => {
    const c = new FakeClock();
    const w = new TimerWheel(c, 100);
    const log: string[] = [];
    const entries: Entry[] = [];
    for (let i = 0; i < 50; i++) {
      const e = new Entry(c, `e${i}`, log);
      entries.push(e);
      w.schedule(e, 32_000);
      c.advance(7);
    }
    const start = c.now();
    expect(c.pending()).toBe(1);
    let wakeups = 0;
    while (c.advanceToNext()) wakeups++;
    for (let i = 0; i < 50; i++) {
      const due = i * 7 + 32_000;
      expect(entries[i].firedAt).toBeGreaterThanOrEqual(due);
      expect(entries[i].firedAt! - due).toBeLessThan(100);
      expect(entries[i].firedAt! % 100).toBe(0);
    }
    // 50 timers due from 32 000 to 32 343: ticks at 32 000, …, 32 400 — 5 wake-ups, not 50.
    expect(wakeups).toBe(5);
    expect(c.now()).toBeGreaterThan(start);
    expect(log.map((s) => s.split('@')[0])).toEqual(entries.map((e) => e.name));
  });

  it('cancel unlinks in O(1) from anywhere; an empty wheel holds no clock timer; clear drops all', () => {
    const c = new FakeClock();
    const w = new TimerWheel(c, 1);
    const log: string[] = [];
    const [x, y, z] = ['x', 'y', 'z'].map((n) => new Entry(c, n, log));
    w.schedule(x, 1000);
    w.schedule(y, 1000);
    w.schedule(z, 1000);
    w.cancel(y); // middle
    w.cancel(x); // head
    w.cancel(x); // twice: no-op
    expect(w.size).toBe(1);
    c.advance(1000);
    expect(log).toEqual(['z@1000']);
    w.schedule(x, 500);
    w.cancel(x);
    expect(c.pending()).toBe(0);
    w.schedule(x, 500);
    w.schedule(y, 700);
    w.clear();
    expect(w.size).toBe(0);
    expect(c.pending()).toBe(0);
    c.advance(1000);
    expect(log).toEqual(['z@1000']);
    // Rescheduling an entry moves it (a restarted timer replaces the old one).
    w.schedule(x, 500);
    w.schedule(x, 800);
    c.advance(1000);
    expect(log).toEqual(['z@1000', 'x@2800']);
  });

  it('an entry that schedules from its callback is re-armed correctly (even for an earlier lane)', () => {
    const c = new FakeClock();
    const w = new TimerWheel(c, 1);
    const log: string[] = [];
    const late = new Entry(c, 'late', log);
    const again = new Entry(c, 'again', log);
    const first = new Entry(c, 'first', log, () => w.schedule(again, 50));
    w.schedule(late, 1000);
    w.schedule(first, 100);
    c.advance(2000);
    expect(log).toEqual(['first@100', 'again@150', 'late@1000']);
  });
});

describe('transactions on the coarse wheel (default granularity)', () => {
  it('many Timer J share one clock timer and fire within one granule after 64·T1', () => {
    const h = new Harness({ timerGranularityMs: 100 });
    const txs = [];
    for (let i = 0; i < 20; i++) {
      h.layer.receiveRequest(register(`z9hG4bK-reg-${i}`), CLIENT);
      const tx = h.requests().at(-1)!.tx!;
      tx.respond(createResponse(tx.request!, 200, 'OK', 't'));
      txs.push({ tx, at: h.clock.now() });
      h.clock.advance(13);
    }
    expect(h.clock.pending()).toBe(1);
    for (const { tx } of txs) expect(tx.activeTimers()).toEqual(['J']);
    // None ends before its 64·T1 (RFC timers are lower bounds).
    h.clock.advance(32_000 - 13 * 20);
    for (const { tx, at } of txs) if (h.clock.now() - at < 32_000) expect(tx.terminated).toBe(false);
    h.clock.advance(32_000);
    const term = h.tuEvents.filter((e) => e.kind === 'terminated');
    expect(term).toHaveLength(20);
    for (let i = 0; i < 20; i++) {
      const lag = term[i].at - txs[i].at;
      expect(lag).toBeGreaterThanOrEqual(32_000);
      expect(lag).toBeLessThan(32_100);
    }
    expect(h.layer.size()).toBe(0);
    expect(h.clock.pending()).toBe(0);
  });

  it('retransmission timers stay exact next to a coarse Timer B', () => {
    const h = new Harness({ timerGranularityMs: 250 });
    const events: ClientEvent[] = [];
    h.clock.advance(7);
    h.layer.sendRequest(invite(), SERVER, recordingHandlers(h.clock, events));
    h.clock.advance(4000);
    // §17.1.1.2: Timer A at T1, doubling: 500, 1500, 3500 after the first send.
    expect(h.sentTimes(() => true)).toEqual([7, 507, 1507, 3507]);
    h.clock.advance(40_000);
    const timeout = events.find((e) => e.kind === 'timeout')!;
    expect(timeout.at).toBeGreaterThanOrEqual(7 + 32_000);
    expect(timeout.at).toBeLessThan(7 + 32_000 + 250);
  });
});

describe('what a transaction lets go of', () => {
  it('server: the request goes with the final response; the 2543 ACK still matches by To tag', () => {
    const h = new Harness();
    h.layer.receiveRequest(register(), CLIENT);
    const tx = h.requests().at(-1)!.tx!;
    expect(tx.request).toBeDefined();
    tx.respond(createResponse(tx.request!, 100, 'Trying'));
    expect(tx.request).toBeDefined();
    tx.respond(createResponse(tx.request!, 200, 'OK', 'r'));
    expect(tx.request).toBeUndefined();
    expect(tx.lastStatus).toBe(200);
    // Completed still answers a retransmission from the kept bytes (§17.2.2).
    h.layer.receiveRequest(register(), CLIENT);
    expect(h.sent.map((s) => s.msg.status)).toEqual([100, 200, 200]);
  });

  it('INVITE server in Accepted keeps matching ACKs and absorbing retransmissions by key', () => {
    const h = new Harness();
    const inv = invite();
    h.layer.receiveRequest(inv, CLIENT);
    const tx = h.requests().at(-1)!.tx!;
    tx.respond(createResponse(tx.request!, 200, 'OK', 'b1'));
    expect(tx.state).toBe('Accepted');
    expect(tx.request).toBeUndefined();
    h.layer.receiveRequest(invite(), CLIENT); // retransmission: absorbed, no response (RFC 6026 §8.7)
    expect(h.sent).toHaveLength(1);
    expect(h.requests()).toHaveLength(1);
    expect(h.layer.stats.requestRetransmissionsAbsorbed).toBe(1);
  });

  it('client: the request goes with the final response; the non-2xx ACK is still resent', () => {
    const h = new Harness();
    const events: ClientEvent[] = [];
    const inv = invite();
    const tx = h.layer.sendRequest(inv, SERVER, recordingHandlers(h.clock, events)) as InviteClientTransaction;
    expect(tx.request).toBe(inv);
    h.layer.receiveResponse(responseTo(inv, 486, 'Busy Here', 'b1'), SERVER);
    expect(tx.state).toBe('Completed');
    expect(tx.request).toBeUndefined();
    expect(tx.lastStatus).toBe(486);
    h.layer.receiveResponse(responseTo(inv, 486, 'Busy Here', 'b1'), SERVER);
    const acks = h.sent.filter((s) => s.msg.method === 'ACK');
    expect(acks).toHaveLength(2);
    expect(acks[0].raw).toBe(acks[1].raw);
    expect(tx.ack?.get('to')).toContain('tag=b1');
  });

  it('a TU that answers at once costs no 100-Trying timer (§17.2.1)', () => {
    const h = new Harness({ autoTryingMs: 200 });
    h.onRequest = (req, tx) => tx?.respond(createResponse(req, 100, 'Trying'));
    h.layer.receiveRequest(invite(), CLIENT);
    const tx = h.requests().at(-1)!.tx!;
    expect(tx.activeTimers()).toEqual([]);
    expect(h.clock.pending()).toBe(0);
    h.clock.advance(1000);
    expect(h.sent.map((s) => s.msg.status)).toEqual([100]);
    expect(h.layer.stats.autoTrying).toBe(0);
  });
});
