/**
 * Location service store (RFC 3261 §10): AoR → contact bindings, with expiry.
 *
 * This is one member's share of the farm's location data: the bindings of the AoRs it is
 * home or replica for. Who holds what is decided in location-service.ts.
 */
import type { Clock } from '../sip/clock.js';

export interface Binding {
  /** Contact URI as registered (RFC 3261 §10.2.1). */
  contact: string;
  /** Absolute expiry, clock milliseconds. */
  expiresAt: number;
  callId: string;
  cseq: number;
  q: number;
  /** Where the REGISTER came from (ip:port), used when the UA is behind NAT. */
  source: { address: string; port: number };
  /** RFC 3581: the UA asked for symmetric response routing (rport) — reach it at `source`. */
  nat: boolean;
  /** Last update, clock milliseconds (newest first when q ties). */
  updatedAt: number;
}

/** Wire form between members: expiry as a remaining duration, so member clocks need not agree. */
export interface WireBinding extends Omit<Binding, 'expiresAt' | 'updatedAt'> {
  expiresInMs: number;
}

export class LocationStore {
  private readonly map = new Map<string, Binding[]>();
  private sweepTimer: unknown = null;

  constructor(private readonly clock: Clock, private readonly sweepMs = 5000) {}

  start(): void {
    const tick = (): void => {
      this.sweep();
      this.sweepTimer = this.clock.setTimer(this.sweepMs, tick);
    };
    this.sweepTimer = this.clock.setTimer(this.sweepMs, tick);
  }

  stop(): void {
    if (this.sweepTimer !== null) this.clock.clearTimer(this.sweepTimer as never);
    this.sweepTimer = null;
  }

  /** Live bindings of an AoR, best first (highest q, then most recent). */
  get(aor: string): Binding[] {
    const now = this.clock.now();
    const list = this.map.get(aor);
    if (!list) return [];
    const live = list.filter((b) => b.expiresAt > now);
    if (live.length !== list.length) {
      if (live.length === 0) this.map.delete(aor);
      else this.map.set(aor, live);
    }
    return live.sort((a, b) => b.q - a.q || b.updatedAt - a.updatedAt);
  }

  /** Replace all bindings of an AoR (registrar result or a replica push). */
  put(aor: string, bindings: Binding[]): void {
    if (bindings.length === 0) this.map.delete(aor);
    else this.map.set(aor, bindings);
  }

  toWire(bindings: Binding[]): WireBinding[] {
    const now = this.clock.now();
    return bindings.map(({ expiresAt, updatedAt: _u, ...rest }) => ({ ...rest, expiresInMs: Math.max(0, expiresAt - now) }));
  }

  fromWire(wire: WireBinding[]): Binding[] {
    const now = this.clock.now();
    return wire.map(({ expiresInMs, ...rest }) => ({ ...rest, expiresAt: now + expiresInMs, updatedAt: now }));
  }

  /** Number of AoRs with at least one binding. */
  get size(): number {
    return this.map.size;
  }

  sweep(): void {
    const now = this.clock.now();
    for (const [aor, list] of this.map) {
      const live = list.filter((b) => b.expiresAt > now);
      if (live.length === 0) this.map.delete(aor);
      else if (live.length !== list.length) this.map.set(aor, live);
    }
  }
}
