/**
 * The farm's location service: where an AoR's bindings live and how other members reach them.
 *
 * Home = ring(AoR) over the live members; replica = the ring without the home
 * (Maglev: when the home dies, the survivors' ring gives exactly that member, so the
 * replica becomes the new home with the data already in place). The registrar commits on
 * the member that handled the REGISTER and pushes to home and replica; any member asks
 * the home first, then the replica, over the farm channel.
 */
import { aorHash } from '../farm/keys.js';
import type { FarmRpc } from '../farm/rpc.js';
import type { Binding, LocationStore, WireBinding } from './location.js';
import type { RegistrarStore } from './registrar.js';

export interface RingView {
  readonly selfId: number;
  /** Owner of a hash under the current ring, -1 if the ring is empty. */
  ownerOf(hash: number): number;
  /** Owner under the ring without `excluded`, -1 if empty. */
  ownerExcluding(hash: number, excluded: number): number;
}

/** Splits 'sip:user@host' into its hashable parts. */
export function aorKeyHash(aor: string): number {
  const colon = aor.indexOf(':');
  const rest = aor.slice(colon + 1);
  const at = rest.lastIndexOf('@');
  return at < 0 ? aorHash('', rest) : aorHash(rest.slice(0, at), rest.slice(at + 1));
}

export class FarmLocationService implements RegistrarStore {
  counters = { lookupsLocal: 0, lookupsRemote: 0, lookupsReplica: 0, lookupMisses: 0, pushes: 0 };

  constructor(
    private readonly store: LocationStore,
    private readonly rpc: FarmRpc,
    private readonly ring: RingView,
    private readonly timeoutMs = 250,
  ) {
    rpc.on('loc.get', (_from, msg) => {
      if (typeof msg.aor !== 'string') return undefined;
      return { b: this.store.toWire(this.store.get(msg.aor)) };
    });
    rpc.on('loc.put', (_from, msg) => {
      if (typeof msg.aor !== 'string' || !Array.isArray(msg.b)) return undefined;
      this.store.put(msg.aor, this.store.fromWire(msg.b as WireBinding[]));
      return undefined;
    });
  }

  current(aor: string): Binding[] {
    return this.store.get(aor);
  }

  /** Home and replica of an AoR under the current ring (-1 where there is none). */
  placement(aor: string): { home: number; replica: number } {
    const h = aorKeyHash(aor);
    const home = this.ring.ownerOf(h);
    const replica = home < 0 ? -1 : this.ring.ownerExcluding(h, home);
    return { home, replica };
  }

  commit(aor: string, bindings: Binding[]): void {
    this.store.put(aor, bindings);
    const { home, replica } = this.placement(aor);
    const wire = this.store.toWire(bindings);
    for (const m of new Set([home, replica])) {
      if (m < 0 || m === this.ring.selfId) continue;
      this.counters.pushes++;
      this.rpc.notify(m, 'loc.put', { aor, b: wire });
    }
  }

  /**
   * Bindings of an AoR wherever they live: an array when this member is the AoR's home
   * and holds them (no promise per call on the common path), else a promise (farm RPC).
   */
  lookup(aor: string): Binding[] | Promise<Binding[]> {
    const { home, replica } = this.placement(aor);
    if (home === this.ring.selfId) {
      const local = this.store.get(aor);
      if (local.length > 0) {
        this.counters.lookupsLocal++;
        return local;
      }
    }
    return this.lookupRemote(aor, home, replica);
  }

  private async lookupRemote(aor: string, home: number, replica: number): Promise<Binding[]> {
    for (const m of [home, replica]) {
      if (m < 0) continue;
      if (m === this.ring.selfId) {
        const local = this.store.get(aor);
        this.counters.lookupsLocal++;
        if (local.length > 0) return local;
        continue;
      }
      const reply = await this.rpc.call(m, 'loc.get', { aor }, this.timeoutMs);
      if (m === home) this.counters.lookupsRemote++;
      else this.counters.lookupsReplica++;
      if (reply && Array.isArray(reply.b) && reply.b.length > 0) return this.store.fromWire(reply.b as WireBinding[]);
    }
    // Last resort: whatever this member holds (it handled the REGISTER during a ring change).
    const local = this.store.get(aor);
    if (local.length === 0) this.counters.lookupMisses++;
    return local;
  }
}
