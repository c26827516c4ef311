/**
 * The farm's location service: where an AoR's bindings live and how other members reach them.
 *
 * Home = ring(AoR) over the live members; replica = the ring without the home
 * (Maglev: when the home dies, the survivors' ring gives exactly that member, so the
 * replica becomes the new home with the data already in place). The registrar commits on
 * the member that handled the REGISTER and pushes to home and replica; any member asks
 * the home first, then the replica, over the farm channel.
 */
import { fmix32, fnv1a32Ascii } from '../farm/hash.js';
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
  let at = aor.lastIndexOf('@');
  if (at <= colon) at = -1;
  // An ASCII AoR (the usual case) is hashed where it is: the bytes aorHash would encode
  // are its char codes. Anything else takes aorHash's UTF-8 way.
  const h = at < 0 ? aorHashAscii(aor, colon + 1, colon + 1, colon + 1) : aorHashAscii(aor, colon + 1, at, at + 1);
  if (h >= 0) return h;
  const rest = aor.slice(colon + 1);
  const rat = rest.lastIndexOf('@');
  return rat < 0 ? aorHash('', rest) : aorHash(rest.slice(0, rat), rest.slice(rat + 1));
}

/**
 * aorHashBytes over the UTF-8 of aor[us, ue) '@' aor[hs, end) — FNV-1a of the user,
 * the '@', the host with A-Z folded, then fmix32 — or -1 at a non-ASCII character.
 */
function aorHashAscii(aor: string, us: number, ue: number, hs: number): number {
  const user = fnv1a32Ascii(aor, us, ue);
  if (user < 0) return -1;
  const h = fnv1a32Ascii(aor, hs, aor.length, fnv1a32Ascii('@', 0, 1, user), true);
  return h < 0 ? -1 : fmix32(h);
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
    // placement(), with the replica worked out only when the home cannot answer here
    const h = aorKeyHash(aor);
    const home = this.ring.ownerOf(h);
    if (home === this.ring.selfId) {
      const local = this.store.get(aor);
      if (local.length > 0) {
        this.counters.lookupsLocal++;
        return local;
      }
    }
    const replica = home < 0 ? -1 : this.ring.ownerExcluding(h, home);
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
