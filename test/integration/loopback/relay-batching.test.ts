/**
 * The TS fast path queues relays and sends them back to back: at once when RELAY_BATCH
 * (16) are waiting, otherwise at the end of the loop turn (member.ts relay()/flushRelays).
 * Here one loop turn hands member 1 more datagrams than two full batches, all owned by
 * member 2: every one must reach member 2 over the real farm channel, once, in order —
 * the two full-batch flushes and the end-of-turn flush of the rest together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { startInProcessFarm, type InProcessFarm } from '../../../src/lab/in-process.js';
import { MaglevRing } from '../../../src/farm/ring.js';
import { callIdHashString } from '../../../src/farm/keys.js';

const COUNT = 16 * 2 + 7;

function invite(callId: string, port: number): Buffer {
  return Buffer.from(
    [
      'OPTIONS sip:nobody@127.0.0.1 SIP/2.0',
      `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${callId}`,
      'Max-Forwards: 70',
      'From: <sip:t@127.0.0.1>;tag=1',
      'To: <sip:nobody@127.0.0.1>',
      `Call-ID: ${callId}`,
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

function counter(farm: InProcessFarm, id: number, name: string): number {
  const m = farm.members.get(id)!;
  return m.outcomes.v[m.outcomes.values.indexOf(name)];
}

describe('TS fast path: relays queued in one loop turn', () => {
  let farm: InProcessFarm;
  let client: dgram.Socket;
  beforeAll(async () => {
    farm = await startInProcessFarm([1, 2]);
    await farm.waitConverged();
    client = dgram.createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    await new Promise<void>((r) => client?.close(() => r()));
    await farm?.stop();
  });

  it(`${COUNT} datagrams for member 2 handed to member 1 at once all arrive, once each, in order`, async () => {
    expect(farm.members.get(1)!.fastPath).toBe('ts');
    const ring = MaglevRing.build([1, 2]);
    const ids: string[] = [];
    for (let i = 0; ids.length < COUNT; i++) {
      const id = `batch-${process.pid}-${i}@test`;
      if (ring.lookup(callIdHashString(id)) === 2) ids.push(id);
    }
    const port = client.address().port;
    // Member 2 answers each OPTIONS itself (health responder or 404/405): the answers
    // come back to `client` through the LB stand-in, in the order member 2 handled them.
    const answered: string[] = [];
    const done = new Promise<void>((resolve) => {
      client.on('message', (buf) => {
        const m = /^Call-ID: *(\S+)/im.exec(buf.toString('latin1'));
        if (m) answered.push(m[1]);
        if (answered.length === COUNT) resolve();
      });
    });
    const relayedBefore = counter(farm, 1, 'relayed_ring');
    const inBefore = counter(farm, 2, 'relayed_in');
    const m1 = farm.members.get(1)!;
    for (const id of ids) m1.receiveVip(invite(id, port), '127.0.0.1', port);
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`only ${answered.length} answers`)), 5000))]);
    expect(counter(farm, 1, 'relayed_ring') - relayedBefore).toBe(COUNT);
    expect(counter(farm, 2, 'relayed_in') - inBefore).toBe(COUNT);
    expect(answered).toEqual(ids);
  });
});
