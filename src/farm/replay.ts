// Anti-replay window for the farm relay envelope, one per origin member.
//
// The sliding-window check of IPsec (RFC 4303 §3.4.3, RFC 6479 describes the bitmap
// form): a datagram is accepted once if its sequence number is newer than the highest
// seen, or within the last `windowSize` numbers and not yet seen. The window is keyed
// by the origin's boot id too: a restarted member begins under a higher boot id (which
// resets its window) or, restarted within the same second, at a higher seq (envelope.ts
// sequenceStart); a lower boot id is an old instance (or a replay of one) and is refused. A sender whose u32 seq would wrap must move to a higher boot id
// (see envelope.ts EnvelopeSequencer), so seq never wraps within one boot id.
//
// All state is preallocated typed arrays indexed by member id: check() is called per
// relayed datagram and does not allocate, log or throw. The C twin is the same arrays.

import { MAX_MEMBER_ID } from './ring.js';

/** Default window: the last 1024 sequence numbers of each origin. */
export const DEFAULT_REPLAY_WINDOW = 1024;

/** Configuration errors (constructor only). */
export class ReplayWindowError extends Error {
  readonly code = 'REPLAY_BAD_WINDOW';
  constructor(message: string) {
    super(message);
    this.name = 'ReplayWindowError';
  }
}

export class ReplayWindow {
  /** Window size in sequence numbers: a power of two, 32..65536. */
  readonly windowSize: number;
  private readonly words: number;
  /** Per origin: 1 once a datagram has been accepted from it. */
  private readonly seen = new Uint8Array(MAX_MEMBER_ID + 1);
  private readonly boot = new Uint32Array(MAX_MEMBER_ID + 1);
  /** Highest accepted seq per origin. */
  private readonly top = new Uint32Array(MAX_MEMBER_ID + 1);
  /** Per origin `words` u32: bit (seq mod windowSize) set = seq seen. */
  private readonly bits: Uint32Array;

  constructor(windowSize: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(windowSize) || windowSize < 32 || windowSize > 65536 || (windowSize & (windowSize - 1)) !== 0) {
      throw new ReplayWindowError(`replay window ${windowSize} must be a power of two in 32..65536`);
    }
    this.windowSize = windowSize;
    this.words = windowSize >>> 5;
    this.bits = new Uint32Array((MAX_MEMBER_ID + 1) * this.words);
  }

  /**
   * Accept (and record) or refuse datagram (boot, seq) from `origin`. Call only after
   * the MAC has been verified: recording an unauthenticated seq would let a forger
   * advance the window and make genuine datagrams look old.
   * Returns true if fresh. `origin` must be 0..254 (the decoder checks it first).
   */
  check(origin: number, boot: number, seq: number): boolean {
    boot >>>= 0;
    seq >>>= 0;
    const base = origin * this.words;
    if (this.seen[origin] === 0 || boot > this.boot[origin]) {
      // First datagram from this origin, or it restarted: start a fresh window.
      this.seen[origin] = 1;
      this.boot[origin] = boot;
      this.bits.fill(0, base, base + this.words);
      this.top[origin] = seq;
      this.setBit(base, seq);
      return true;
    }
    if (boot < this.boot[origin]) return false;
    const top = this.top[origin];
    if (seq > top) {
      const diff = seq - top;
      if (diff >= this.windowSize) {
        this.bits.fill(0, base, base + this.words);
      } else {
        // Clear the slots of the numbers we skipped over (top+1 .. seq): they now stand
        // for seqs a whole window newer than the ones they held.
        for (let s = top + 1; s <= seq; s++) this.clearBit(base, s);
      }
      this.top[origin] = seq;
      this.setBit(base, seq);
      return true;
    }
    if (top - seq >= this.windowSize) return false; // too old to tell: refuse
    const i = seq & (this.windowSize - 1);
    const w = base + (i >>> 5);
    const m = 1 << (i & 31);
    if ((this.bits[w] & m) !== 0) return false; // duplicate
    this.bits[w] |= m;
    return true;
  }

  /** Forget an origin (e.g. removed from the configuration). */
  reset(origin: number): void {
    const base = origin * this.words;
    this.seen[origin] = 0;
    this.boot[origin] = 0;
    this.top[origin] = 0;
    this.bits.fill(0, base, base + this.words);
  }

  /** Highest accepted seq and boot id of an origin, or null if none seen (diagnostics). */
  position(origin: number): { boot: number; top: number } | null {
    return this.seen[origin] === 0 ? null : { boot: this.boot[origin], top: this.top[origin] };
  }

  private setBit(base: number, seq: number): void {
    const i = seq & (this.windowSize - 1);
    this.bits[base + (i >>> 5)] |= 1 << (i & 31);
  }

  private clearBit(base: number, seq: number): void {
    const i = seq & (this.windowSize - 1);
    this.bits[base + (i >>> 5)] &= ~(1 << (i & 31));
  }
}
