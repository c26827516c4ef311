import { describe, expect, test } from 'vitest';
import { FakeClock } from '../../../src/sip/clock.js';
import { keyHashString } from '../../../src/farm/hash.js';
import {
  HEARTBEAT_SIZE, HeartbeatState, Membership, MembershipError, decodeHeartbeat, encodeHeartbeat, viewHashOf,
  type MembershipOptions,
} from '../../../src/farm/membership.js';
import { MaglevRing } from '../../../src/farm/ring.js';

const INTERVAL = 200;
const DEAD = 1000;
const GRACE = 32000;
const RING = 4099; // a small prime keeps ring builds cheap in tests

interface Sent {
  to: number;
  payload: Uint8Array;
}

function make(over: Partial<MembershipOptions> = {}) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const changes: number[] = [];
  const m = new Membership({
    selfId: 0,
    members: [{ id: 0 }, { id: 1 }, { id: 2 }, { id: 3 }],
    clock,
    heartbeatIntervalMs: INTERVAL,
    deadAfterMs: DEAD,
    graceMs: GRACE,
    ringSize: RING,
    sendHeartbeat: (to, payload) => sent.push({ to, payload }),
    onChange: (e) => changes.push(e),
    ...over,
  });
  return { clock, sent, changes, m };
}

const hb = (sender: number, state: number = HeartbeatState.ALIVE) => encodeHeartbeat({ state, sender, epoch: 0, view: 0 });
const sameTable = (a: MaglevRing, b: MaglevRing) => Buffer.from(a.table).equals(Buffer.from(b.table));

const KEYS = Array.from({ length: 5000 }, (_, i) => keyHashString(`call-${i}@198.51.100.1`));

describe('heartbeat payload', () => {
  test('round trip and refusals', () => {
    const p = encodeHeartbeat({ state: HeartbeatState.DRAINING, sender: 254, epoch: 0xfffffffe, view: 0x12345678 });
    expect(p.length).toBe(HEARTBEAT_SIZE);
    expect(decodeHeartbeat(p)).toEqual({ state: 2, sender: 254, epoch: 0xfffffffe, view: 0x12345678 });
    expect(decodeHeartbeat(p.subarray(0, 11))).toBeNull();
    expect(decodeHeartbeat(new Uint8Array([...p, 0]))).toBeNull();
    for (const [i, v] of [[0, 2], [1, 3], [2, 255], [3, 1]]) {
      const q = Uint8Array.from(p);
      q[i] = v;
      expect(decodeHeartbeat(q), `byte ${i}`).toBeNull();
    }
    // Decodes from inside a larger buffer (an envelope's payload view).
    const big = new Uint8Array(40);
    big.set(p, 17);
    expect(decodeHeartbeat(big.subarray(17, 29))?.view).toBe(0x12345678);
  });
});

describe('Membership', () => {
  test('starts with self alive and everybody else dead', () => {
    const { m } = make();
    expect(m.state(0)).toBe('alive');
    for (const id of [1, 2, 3]) expect(m.state(id)).toBe('dead');
    expect(m.state(99)).toBe('dead'); // not configured
    expect(m.isAlive(0)).toBe(true);
    expect(m.epoch).toBe(0);
    expect(m.ring.members).toEqual([0]);
    expect(m.prevRing).toBeNull();
    expect(m.ownerOf(12345)).toBe(0);
    expect(m.prevOwnerOf(12345)).toBe(-1);
    expect(m.memberIds).toEqual([0, 1, 2, 3]);
  });

  test('self is added to the member list when missing; bad ids and options are refused', () => {
    const { m } = make({ selfId: 9 });
    expect(m.memberIds).toEqual([0, 1, 2, 3, 9]);
    expect(() => make({ members: [{ id: 255 }] })).toThrow(MembershipError);
    expect(() => make({ heartbeatIntervalMs: 0 })).toThrow(expect.objectContaining({ code: 'MEMBERSHIP_BAD_OPTION' }));
  });

  test('heartbeats go to every other member at start and every interval', () => {
    const { m, sent, clock } = make();
    m.start();
    expect(sent.map((s) => s.to)).toEqual([1, 2, 3]);
    const p = decodeHeartbeat(sent[0].payload);
    expect(p).toMatchObject({ state: HeartbeatState.ALIVE, sender: 0, view: viewHashOf([0]) });
    clock.advance(INTERVAL - 1);
    expect(sent.length).toBe(3);
    clock.advance(1);
    expect(sent.length).toBe(6);
    clock.advance(INTERVAL * 10);
    expect(sent.length).toBe(36);
    m.stop();
  });

  test('a heartbeat makes a member alive: new epoch, new ring, change event', () => {
    const { m, changes, clock } = make();
    m.start();
    clock.advance(50);
    expect(m.onHeartbeat(1, hb(1))).toBe(true);
    expect(m.state(1)).toBe('alive');
    expect(m.lastSeen(1)).toBe(50);
    expect(m.epoch).toBe(1);
    expect(changes).toEqual([1]);
    expect(m.ring.members).toEqual([0, 1]);
    expect(sameTable(m.ring, MaglevRing.build([1, 0], RING))).toBe(true);
    expect(m.prevRing?.members).toEqual([0]);
    // A repeated heartbeat changes nothing.
    m.onHeartbeat(1, hb(1));
    expect(m.epoch).toBe(1);
    expect(changes).toEqual([1]);
    m.stop();
  });

  test('silence for deadAfterMs makes a member dead', () => {
    const { m, clock } = make();
    m.start();
    m.onHeartbeat(1, hb(1));
    m.onHeartbeat(2, hb(2));
    // Member 2 keeps talking, member 1 goes silent at t = 0.
    for (let t = 0; t < DEAD - INTERVAL; t += INTERVAL) {
      clock.advance(INTERVAL);
      m.onHeartbeat(2, hb(2));
    }
    expect(clock.now()).toBe(DEAD - INTERVAL);
    clock.advance(INTERVAL - 1); // t = 999
    expect(m.state(1)).toBe('alive');
    const epoch = m.epoch;
    clock.advance(1); // t = 1000: the tick finds 1000 ms of silence
    expect(m.state(1)).toBe('dead');
    expect(m.isAlive(1)).toBe(false);
    expect(m.state(2)).toBe('alive');
    expect(m.epoch).toBe(epoch + 1);
    expect(m.ring.members).toEqual([0, 2]);
    expect(m.liveMembers()).toEqual([0, 2]);
    // Hearing from it again brings it back.
    m.onHeartbeat(1, hb(1));
    expect(m.ring.members).toEqual([0, 1, 2]);
    m.stop();
  });

  test('several deaths found by one tick make one epoch', () => {
    const { m, clock, changes } = make();
    m.start();
    for (const id of [1, 2, 3]) m.onHeartbeat(id, hb(id));
    expect(m.epoch).toBe(3);
    clock.advance(DEAD);
    expect(m.liveMembers()).toEqual([0]);
    expect(m.epoch).toBe(4);
    expect(changes).toEqual([1, 2, 3, 4]);
    m.stop();
  });

  test('prevRing is kept exactly graceMs after the change, then dropped', () => {
    const { m, clock } = make();
    const graceEnds: number[] = [];
    m.on('graceEnd', (e) => graceEnds.push(e));
    m.start();
    m.onHeartbeat(1, hb(1));
    m.onHeartbeat(2, hb(2));
    const keep = () => {
      m.onHeartbeat(1, hb(1));
      m.onHeartbeat(2, hb(2));
    };
    // Let the first changes' grace pass, keeping both alive.
    for (let i = 0; i < GRACE / INTERVAL + 1; i++) {
      clock.advance(INTERVAL);
      keep();
    }
    expect(m.prevRing).toBeNull();
    expect(graceEnds.length).toBe(1);
    const before = m.ring;
    m.onHeartbeat(3, hb(3)); // a change at time t0
    const t0 = clock.now();
    expect(m.prevRing).toBe(before);
    const moved = KEYS.filter((h) => m.ownerOf(h) !== m.prevOwnerOf(h));
    expect(moved.length).toBeGreaterThan(0);
    // Adding 3 moves ~1/4 of keys, nearly all of them to 3 (Maglev shuffles a few others).
    expect(moved.length / KEYS.length).toBeGreaterThan(0.2);
    expect(moved.length / KEYS.length).toBeLessThan(0.3);
    expect(moved.filter((h) => m.ownerOf(h) === 3).length / moved.length).toBeGreaterThan(0.9);
    while (clock.now() + INTERVAL < t0 + GRACE) {
      clock.advance(INTERVAL);
      keep();
      m.onHeartbeat(3, hb(3));
    }
    clock.advance(t0 + GRACE - 1 - clock.now());
    expect(m.prevRing).toBe(before);
    clock.advance(1);
    expect(m.prevRing).toBeNull();
    expect(m.prevOwnerOf(KEYS[0])).toBe(-1);
    expect(graceEnds.length).toBe(2);
    m.stop();
  });

  test('a second change within the grace replaces prevRing and restarts the grace', () => {
    const { m, clock } = make();
    m.onHeartbeat(1, hb(1)); // not started: no tick, nobody times out
    const r1 = m.ring;
    clock.advance(GRACE / 2);
    m.onHeartbeat(2, hb(2));
    expect(m.prevRing).toBe(r1);
    clock.advance(GRACE / 2);
    expect(m.prevRing).toBe(r1); // the grace counts from the second change
    clock.advance(GRACE / 2);
    expect(m.prevRing).toBeNull();
  });

  test('a draining member leaves the ring but stays alive for relays', () => {
    const { m, clock } = make();
    m.start();
    for (const id of [1, 2]) m.onHeartbeat(id, hb(id));
    const epoch = m.epoch;
    m.onHeartbeat(2, hb(2, HeartbeatState.DRAINING));
    expect(m.state(2)).toBe('draining');
    expect(m.isAlive(2)).toBe(true);
    expect(m.epoch).toBe(epoch + 1);
    expect(m.ring.members).toEqual([0, 1]);
    expect(m.liveMembers()).toEqual([0, 1, 2]);
    for (const h of KEYS) expect(m.ownerOf(h)).not.toBe(2);
    // It dies while draining: a new epoch, but the ring (and its grace) is unchanged.
    const ring = m.ring;
    const prev = m.prevRing;
    for (let t = 0; t < DEAD; t += INTERVAL) {
      clock.advance(INTERVAL);
      m.onHeartbeat(1, hb(1));
    }
    expect(m.state(2)).toBe('dead');
    expect(m.epoch).toBe(epoch + 2);
    expect(m.ring).toBe(ring);
    expect(m.prevRing).toBe(prev);
    m.stop();
  });

  test('a LEAVING heartbeat marks the sender dead at once', () => {
    const { m } = make();
    m.onHeartbeat(1, hb(1));
    m.onHeartbeat(1, hb(1, HeartbeatState.LEAVING));
    expect(m.state(1)).toBe('dead');
    expect(m.ring.members).toEqual([0]);
  });

  test('setDraining: self leaves the ring, stays alive, tells the others at once', () => {
    const { m, sent, clock } = make();
    m.start();
    m.onHeartbeat(1, hb(1));
    sent.length = 0;
    m.setDraining(true);
    expect(m.state(0)).toBe('draining');
    expect(m.isAlive(0)).toBe(true);
    expect(m.ring.members).toEqual([1]);
    expect(sent.length).toBe(3);
    expect(decodeHeartbeat(sent[0].payload)?.state).toBe(HeartbeatState.DRAINING);
    clock.advance(INTERVAL);
    expect(decodeHeartbeat(sent[3].payload)?.state).toBe(HeartbeatState.DRAINING);
    m.setDraining(false);
    expect(m.ring.members).toEqual([0, 1]);
    expect(decodeHeartbeat(sent[sent.length - 1].payload)?.state).toBe(HeartbeatState.ALIVE);
    m.stop();
  });

  test('bad heartbeats are ignored', () => {
    const { m } = make();
    expect(m.onHeartbeat(0, hb(0))).toBe(false); // self
    expect(m.onHeartbeat(7, hb(7))).toBe(false); // not configured
    expect(m.onHeartbeat(300, hb(1))).toBe(false);
    expect(m.onHeartbeat(1, hb(2))).toBe(false); // sender byte disagrees with the envelope origin
    expect(m.onHeartbeat(1, new Uint8Array(3))).toBe(false);
    expect(m.epoch).toBe(0);
    expect(m.state(1)).toBe('dead');
  });

  test('ringExcluding(home) predicts the owner after home dies (registrar replica)', () => {
    const { m, clock } = make({ members: [0, 1, 2, 3, 4].map((id) => ({ id })) });
    for (const id of [1, 2, 3, 4]) m.onHeartbeat(id, hb(id));
    expect(m.ring.members).toEqual([0, 1, 2, 3, 4]);
    expect(m.ringExcluding(3)).toBe(m.ringExcluding(3)); // cached
    expect(m.ringExcluding(9)).toBe(m.ring); // not a member
    for (const home of [1, 3]) {
      const replica = new Map<number, number>();
      for (const h of KEYS) {
        if (m.ownerOf(h) !== home) continue;
        const r = m.ringExcluding(home).lookup(h);
        expect(r).not.toBe(home);
        replica.set(h, r);
      }
      expect(replica.size).toBeGreaterThan(KEYS.length / 10);
      m.onHeartbeat(home, hb(home, HeartbeatState.LEAVING)); // home dies
      for (const [h, r] of replica) expect(m.ownerOf(h)).toBe(r);
      m.onHeartbeat(home, hb(home)); // back for the next round
      clock.advance(1);
    }
  });

  test('stop: leaving heartbeats, self dead, no timers left; start again rejoins', () => {
    const { m, sent, clock } = make();
    m.start();
    m.onHeartbeat(1, hb(1));
    sent.length = 0;
    m.stop();
    expect(sent.map((s) => decodeHeartbeat(s.payload)?.state)).toEqual([0, 0, 0]);
    expect(m.state(0)).toBe('dead');
    expect(m.isAlive(0)).toBe(false);
    expect(m.ring.members).toEqual([1]);
    expect(m.prevRing).toBeNull();
    expect(clock.pending()).toBe(0);
    expect(m.onHeartbeat(2, hb(2))).toBe(false);
    m.start();
    expect(m.state(0)).toBe('alive');
    expect(m.ring.members).toEqual([0, 1]);
    m.stop();
    expect(clock.pending()).toBe(0);
  });

  test('a farm of real Membership instances converges on identical rings', () => {
    const clock = new FakeClock();
    const ids = [0, 1, 2, 3];
    const farm = new Map<number, Membership>();
    const down = new Set<number>(); // members whose traffic is lost (crashed)
    for (const id of ids) {
      farm.set(
        id,
        new Membership({
          selfId: id,
          members: ids.map((i) => ({ id: i })),
          clock,
          heartbeatIntervalMs: INTERVAL,
          deadAfterMs: DEAD,
          ringSize: RING,
          sendHeartbeat: (to, payload) => {
            if (!down.has(id)) farm.get(to)?.onHeartbeat(id, payload);
          },
        }),
      );
    }
    for (const m of farm.values()) m.start();
    clock.advance(INTERVAL * 2);
    for (const m of farm.values()) {
      expect(m.ring.members).toEqual(ids);
      expect(sameTable(m.ring, farm.get(0)!.ring)).toBe(true);
      expect(m.isConverged()).toBe(true);
    }
    // Member 3 crashes silently: after deadAfterMs (+ one interval) the others agree again.
    down.add(3);
    clock.advance(DEAD + INTERVAL);
    const live = [0, 1, 2].map((id) => farm.get(id)!);
    for (const m of live) {
      expect(m.ring.members).toEqual([0, 1, 2]);
      expect(sameTable(m.ring, live[0].ring)).toBe(true);
      expect(m.prevRing?.members).toEqual(ids);
    }
    clock.advance(INTERVAL);
    for (const m of live) expect(m.isConverged()).toBe(true);
    // Member 2 leaves gracefully: the others drop it at once.
    farm.get(2)!.stop();
    for (const m of [farm.get(0)!, farm.get(1)!]) expect(m.ring.members).toEqual([0, 1]);
    for (const m of farm.values()) m.stop();
    expect(clock.pending()).toBe(0);
  });
});
