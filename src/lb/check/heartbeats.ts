/**
 * Which members' heartbeats are among a handful of datagrams received on the farm port.
 * Runs once per `sipfarm check`, over at most a few dozen datagrams: allocation is fine.
 */
import { DecodedEnvelope, EnvelopeDecoder, EnvelopeKind, EnvelopeReject, deriveEnvelopeKey, envelopeRejectName } from '../../farm/envelope.js';
import type { HeartbeatFacts } from './facts.js';

export function heartbeatsFrom(datagrams: readonly Uint8Array[], secret: Buffer, peerIds: readonly number[], listenedMs: number): HeartbeatFacts {
  const decoder = new EnvelopeDecoder(deriveEnvelopeKey(secret.toString('utf8')), { memberIds: new Set(peerIds) });
  const out = new DecodedEnvelope();
  const from = new Set<number>();
  const rejected: Record<string, number> = {};
  for (const d of datagrams) {
    const r = decoder.decode(d, d.length, out);
    if (r !== EnvelopeReject.OK) {
      const name = envelopeRejectName(r);
      rejected[name] = (rejected[name] ?? 0) + 1;
    } else if (out.kind === EnvelopeKind.HEARTBEAT) {
      from.add(out.origin);
    }
  }
  return { listenedMs, fromMembers: [...from].sort((a, b) => a - b), rejected };
}
