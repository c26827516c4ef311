/**
 * The l2 relay without privileges: the frame the C relay loop builds (Ethernet, IPv4 and
 * UDP headers, both checksums) checked byte for byte against an independent TS builder
 * and by re-verifying the checksums; option and error codes; and the loop guard on
 * loopback — a datagram carrying the farm's DSCP mark reaches a VIP socket whose ring
 * says "relay it" and is handled locally instead (relayed_in), while an unmarked one is
 * relayed. The frame path itself runs in the namespace lab (test/integration/l2.test.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Outcome } from '../../../src/fastpath/outcomes.js';
import { NativeUdpSocket } from '../../../src/io/native-udp.js';
import {
  DEFAULT_L2_DSCP, L2_COUNTER_NAMES, L2_HEADER_SIZE, L2Relay, L2RelayError, buildL2Frame, formatMac, openL2Relay, parseMac,
  readL2Counters, setL2LoopGuard,
} from '../../../src/io/l2-relay.js';
import { HAVE_NATIVE, SKIP_REASON, bothTables, vectors } from './helpers.js';

/** RFC 1071 checksum, written independently of native/src/l2.c. */
function inetSum(parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i += 2) sum += (p[i] << 8) | (i + 1 < p.length ? p[i + 1] : 0);
    sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function reference(f: { dst: string; src: string; sip: string; sport: number; dip: string; dport: number; dscp: number; payload: Buffer }): Buffer {
  const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
  const eth = Buffer.concat([parseMac(f.dst), parseMac(f.src), Buffer.from([0x08, 0x00])]);
  const udpLen = 8 + f.payload.length;
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[1] = f.dscp << 2;
  ip.writeUInt16BE(20 + udpLen, 2);
  ip.writeUInt16BE(0x4000, 6); // DF, atomic datagram
  ip[8] = 64;
  ip[9] = 17;
  ip4(f.sip).copy(ip, 12);
  ip4(f.dip).copy(ip, 16);
  ip.writeUInt16BE(~inetSum([ip]) & 0xffff, 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(f.sport, 0);
  udp.writeUInt16BE(f.dport, 2);
  udp.writeUInt16BE(udpLen, 4);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17, udpLen >> 8, udpLen & 0xff])]);
  const c = ~inetSum([pseudo, udp, f.payload]) & 0xffff;
  udp.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return Buffer.concat([eth, ip, udp, f.payload]);
}

const INVITE = Buffer.from(vectors.vectors.find((v) => v.name === 'invite-own-peer')!.packet, 'latin1');

describe('MAC text', () => {
  it('parses and formats; refuses malformed and group addresses with L2_BAD_OPTION', () => {
    expect(formatMac(parseMac('02:53:46:01:00:0A'))).toBe('02:53:46:01:00:0a');
    expect(formatMac(parseMac('02-53-46-01-00-02'))).toBe('02:53:46:01:00:02');
    for (const bad of ['02:53:46:01:00', '02:53:46:01:00:0g', '01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff']) {
      expect(() => parseMac(bad)).toThrowError(expect.objectContaining({ code: 'L2_BAD_OPTION' }));
    }
  });
});

describe.skipIf(!HAVE_NATIVE)(`l2 frames built in C${SKIP_REASON}`, () => {
  const base = { dst: '02:53:46:01:00:02', src: '02:53:46:01:00:01', sip: '198.51.100.10', sport: 5062, dip: '203.0.113.100', dport: 5060, dscp: DEFAULT_L2_DSCP };
  const build = (payload: Buffer, o: Partial<typeof base> = {}): Buffer => {
    const f = { ...base, ...o };
    return buildL2Frame({ dstMac: f.dst, srcMac: f.src, srcIp: f.sip, srcPort: f.sport, dstIp: f.dip, dstPort: f.dport, dscp: f.dscp, payload });
  };

  it('is byte-identical to an independent builder (even, odd, empty, 1-byte and 60 000-byte payloads)', () => {
    const big = Buffer.alloc(60_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + 13) & 0xff; // carries through many 16-bit folds
    for (const p of [INVITE, Buffer.concat([INVITE, Buffer.from('x')]), Buffer.alloc(0), Buffer.from([0xff]), big, Buffer.alloc(1400, 0xff)]) {
      const got = build(p);
      expect(got.length).toBe(L2_HEADER_SIZE + p.length);
      expect(got.equals(reference({ ...base, payload: p }))).toBe(true);
    }
    const other = { sip: '203.0.113.250', sport: 65535, dip: '198.51.100.1', dport: 1, dscp: 63 };
    expect(build(INVITE, other).equals(reference({ ...base, ...other, payload: INVITE }))).toBe(true);
  });

  it('headers: owner and own MAC, IPv4 with the mark as DSCP, DF, TTL 64; both checksums verify', () => {
    const f = build(INVITE);
    expect(formatMac(f.subarray(0, 6))).toBe(base.dst);
    expect(formatMac(f.subarray(6, 12))).toBe(base.src);
    expect(f.readUInt16BE(12)).toBe(0x0800);
    const ip = f.subarray(14, 34);
    expect(ip[0]).toBe(0x45);
    expect(ip[1]).toBe(0x20); // CS1 → TOS 0x20, ECN 0
    expect(ip.readUInt16BE(2)).toBe(28 + INVITE.length);
    expect(ip.readUInt16BE(6)).toBe(0x4000);
    expect(ip[8]).toBe(64);
    expect(ip[9]).toBe(17);
    expect([...ip.subarray(12, 16)].join('.')).toBe(base.sip);
    expect([...ip.subarray(16, 20)].join('.')).toBe(base.dip);
    expect(inetSum([ip])).toBe(0xffff); // a valid header sums to all ones
    const udp = f.subarray(34);
    expect(udp.readUInt16BE(0)).toBe(base.sport);
    expect(udp.readUInt16BE(2)).toBe(base.dport);
    expect(udp.readUInt16BE(4)).toBe(8 + INVITE.length);
    expect(udp.readUInt16BE(6)).not.toBe(0); // computed, not omitted
    const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), udp.subarray(4, 6)]);
    expect(inetSum([pseudo, udp])).toBe(0xffff);
    expect(udp.subarray(8).equals(INVITE)).toBe(true);
  });

  it('a checksum that computes to 0 is sent as 0xffff (RFC 768)', () => {
    // Choose two payload bytes so that the UDP sum is exactly 0xffff (checksum 0).
    const p = Buffer.from([0, 0]);
    const zero = reference({ ...base, payload: p });
    const udpHeader = Buffer.from(zero.subarray(34, 42));
    udpHeader.writeUInt16BE(0, 6);
    const partial = inetSum([zero.subarray(26, 34), Buffer.from([0, 17, 0, 10]), udpHeader]);
    p.writeUInt16BE(0xffff - partial, 0); // the whole sum is then exactly 0xffff
    const f = build(p);
    expect(f.readUInt16BE(40)).toBe(0xffff);
    expect(f.equals(reference({ ...base, payload: p }))).toBe(true);
  });

  it('refuses bad fields with L2_BAD_OPTION before crossing into C', () => {
    const codeOf = (o: Partial<typeof base>): string | undefined => {
      try {
        build(INVITE, o);
      } catch (e) {
        return (e as L2RelayError).code;
      }
      return undefined;
    };
    expect(codeOf({ dscp: 64 })).toBe('L2_BAD_OPTION');
    expect(codeOf({ sport: 70000 })).toBe('L2_BAD_OPTION');
    expect(codeOf({ sip: '198.51.100.256' })).toBe('L2_BAD_OPTION');
    expect(codeOf({ dip: '::1' })).toBe('L2_BAD_OPTION');
    expect(codeOf({ dst: 'nope' })).toBe('L2_BAD_OPTION');
  });
});

describe.skipIf(!HAVE_NATIVE)(`L2Relay opening${SKIP_REASON}`, () => {
  it('a missing interface is L2_NO_INTERFACE; lo is refused (not Ethernet, or no CAP_NET_RAW); nothing is sent', () => {
    const { ctx } = bothTables(vectors.tableSets.steady);
    expect(() => new L2Relay(ctx, { iface: 'sfnope0' })).toThrowError(expect.objectContaining({ code: 'L2_NO_INTERFACE' }));
    let code = '';
    try {
      new L2Relay(ctx, { iface: 'lo' }).close();
    } catch (e) {
      code = (e as L2RelayError).code;
    }
    expect(['L2_NOT_ETHERNET', 'L2_NO_PRIVILEGE']).toContain(code);
    expect(() => new L2Relay(ctx, { iface: 'lo', dscp: 0 })).toThrowError(expect.objectContaining({ code: 'L2_BAD_OPTION' }));
    expect(() => new L2Relay(ctx, { iface: 'lo', macs: [{ id: 300, mac: '02:00:00:00:00:01' }] })).toThrowError(expect.objectContaining({ code: 'L2_BAD_OPTION' }));
  });

  it('openL2Relay returns the error (for one loud log line) and still arms the loop guard', () => {
    const { ctx } = bothTables(vectors.tableSets.steady);
    const r = openL2Relay(ctx, { iface: 'sfnope0', dscp: 10 });
    expect(r.relay).toBeNull();
    expect(r.error?.code).toBe('L2_NO_INTERFACE');
    expect(Object.keys(readL2Counters(ctx))).toEqual([...L2_COUNTER_NAMES]);
    expect(() => openL2Relay(ctx, { iface: 'x', dscp: 99 })).toThrowError(expect.objectContaining({ code: 'L2_BAD_OPTION' }));
  });
});

const HAVE_PY = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;

/** Node's dgram cannot set IP_TOS: one python3 process sends the datagrams with their TOS. */
function sendWithTos(port: number, items: { tos: number; payload: Buffer }[]): void {
  const script = `
import socket, sys, json
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
for tos, hexp in json.loads(sys.argv[2]):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.sendto(bytes.fromhex(hexp), ('127.0.0.1', int(sys.argv[1])))
print(s.getsockname()[1])
`;
  execFileSync('python3', ['-c', script, String(port), JSON.stringify(items.map((i) => [i.tos, i.payload.toString('hex')]))], { timeout: 5_000 });
}

describe.skipIf(!HAVE_NATIVE || !HAVE_PY)(`loop guard on a VIP socket (IP_RECVTOS)${SKIP_REASON}${HAVE_PY ? '' : ' [SKIPPED: no python3]'}`, () => {
  const open: { close(): void }[] = [];
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  async function setup(dscp: number) {
    // Member 1, ring [1, 2]: the INVITE's Call-ID is owned by member 2 → relay.
    const { ctx } = bothTables(vectors.tableSets.steady);
    const peer = dgram.createSocket('udp4');
    open.push(peer);
    const envelopes: Buffer[] = [];
    peer.on('message', (m) => envelopes.push(m));
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    ctx.setPeer(2, '127.0.0.1', peer.address().port);
    ctx.setKey(Buffer.alloc(32, 7));
    setL2LoopGuard(ctx, dscp);
    const farm = new NativeUdpSocket({ role: 'farm', host: '127.0.0.1', port: 0, context: ctx });
    const vip = new NativeUdpSocket({ role: 'vip', host: '127.0.0.1', port: 0, context: ctx, counters: farm.counters });
    open.push(vip, farm);
    const local: { outcome: number; payload: Buffer }[] = [];
    farm.start(() => undefined);
    vip.start((b) => {
      for (let i = 0; i < b.count; i++) local.push({ outcome: b.outcome(i), payload: Buffer.from(b.payload(i)) });
    }, farm);
    return { ctx, vip, local, envelopes };
  }

  async function until(cond: () => boolean): Promise<void> {
    const end = Date.now() + 3000;
    while (!cond()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('marked (ECN bits ignored) → handled here as relayed_in; unmarked → relayed to the owner', async () => {
    const { ctx, vip, local, envelopes } = await setup(DEFAULT_L2_DSCP);
    sendWithTos(vip.localPort, [
      { tos: 0x20, payload: INVITE },
      { tos: 0x21, payload: INVITE }, // CS1 + ECT(1)
      { tos: 0x00, payload: INVITE },
      { tos: 0x60, payload: INVITE }, // CS3: a real client's marking, not ours
    ]);
    await until(() => local.length === 2 && envelopes.length === 2);
    expect(local.map((l) => l.outcome)).toEqual([Outcome.RELAYED_IN, Outcome.RELAYED_IN]);
    expect(local[0].payload.equals(INVITE)).toBe(true);
    expect(vip.counters.outcomes[Outcome.RELAYED_IN]).toBe(2);
    expect(vip.counters.outcomes[Outcome.RELAYED_RING]).toBe(2);
    const c = readL2Counters(ctx);
    expect(c.marked_in).toBe(2);
    expect(c.sent).toBe(0); // no relay open: the unmarked ones went as envelopes
  });

  it('guard off (mark 0): a marked datagram is classified like any other and relayed', async () => {
    const { ctx, vip, local, envelopes } = await setup(0);
    sendWithTos(vip.localPort, [{ tos: 0x20, payload: INVITE }]);
    await until(() => envelopes.length === 1);
    expect(local).toEqual([]);
    expect(vip.counters.outcomes[Outcome.RELAYED_RING]).toBe(1);
    expect(readL2Counters(ctx).marked_in).toBe(0);
  });
});
