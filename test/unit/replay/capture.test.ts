import { describe, expect, it } from 'vitest';
import { CaptureError, LinkType, looksLikeSip, readCapture } from '../../../src/replay/capture.js';

const SIP = Buffer.from('OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n', 'latin1');
const RESP = Buffer.from('SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n', 'latin1');

/** IPv4 + UDP around a payload (checksums zero: this reader does not verify them, as tcpdump captures on lo often carry none). */
function ipUdp(payload: Buffer, src = [10, 0, 0, 1], dst = [10, 0, 0, 2], sport = 5060, dport = 5070, opts: { proto?: number; frag?: number } = {}): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip.writeUInt16BE(opts.frag ?? 0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = opts.proto ?? 17;
  Buffer.from(src).copy(ip, 12);
  Buffer.from(dst).copy(ip, 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([ip, udp, payload]);
}

function ether(ipPacket: Buffer, ethertype = 0x0800, vlan = false): Buffer {
  const h = Buffer.alloc(vlan ? 18 : 14);
  h.fill(0xaa, 0, 6);
  h.fill(0xbb, 6, 12);
  if (vlan) {
    h.writeUInt16BE(0x8100, 12);
    h.writeUInt16BE(42, 14);
    h.writeUInt16BE(ethertype, 16);
  } else h.writeUInt16BE(ethertype, 12);
  return Buffer.concat([h, ipPacket]);
}

function sll(ipPacket: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0); // to us
  h.writeUInt16BE(772, 2); // ARPHRD_LOOPBACK
  h.writeUInt16BE(6, 4);
  h.writeUInt16BE(0x0800, 14);
  return Buffer.concat([h, ipPacket]);
}

function pcap(frames: Array<{ sec: number; frac: number; data: Buffer; orig?: number }>, o: { be?: boolean; nano?: boolean; link?: number } = {}): Buffer {
  const w32 = (b: Buffer, v: number, off: number): number => (o.be ? b.writeUInt32BE(v, off) : b.writeUInt32LE(v, off));
  const w16 = (b: Buffer, v: number, off: number): number => (o.be ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off));
  const g = Buffer.alloc(24);
  w32(g, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(g, 2, 4);
  w16(g, 4, 6);
  w32(g, 65535, 16);
  w32(g, o.link ?? LinkType.ETHERNET, 20);
  const parts = [g];
  for (const f of frames) {
    const h = Buffer.alloc(16);
    w32(h, f.sec, 0);
    w32(h, f.frac, 4);
    w32(h, f.data.length, 8);
    w32(h, f.orig ?? f.data.length, 12);
    parts.push(h, f.data);
  }
  return Buffer.concat(parts);
}

/** pcapng block: type, total length, body padded to 4, total length. */
function block(type: number, body: Buffer, be = false): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const b = Buffer.alloc(len);
  if (be) { b.writeUInt32BE(type, 0); b.writeUInt32BE(len, 4); b.writeUInt32BE(len, len - 4); }
  else { b.writeUInt32LE(type, 0); b.writeUInt32LE(len, 4); b.writeUInt32LE(len, len - 4); }
  body.copy(b, 8);
  return b;
}

function shb(be = false): Buffer {
  const body = Buffer.alloc(16);
  if (be) { body.writeUInt32BE(0x1a2b3c4d, 0); body.writeUInt16BE(1, 4); body.writeUInt16BE(0, 6); }
  else { body.writeUInt32LE(0x1a2b3c4d, 0); body.writeUInt16LE(1, 4); body.writeUInt16LE(0, 6); }
  body.writeBigInt64LE(-1n, 8);
  const b = block(0x0a0d0d0a, body, be);
  b.writeUInt32BE(0x0a0d0d0a, 0); // palindromic anyway
  return b;
}

function idb(link: number, tsresol?: number, be = false): Buffer {
  const opts: Buffer[] = [];
  if (tsresol !== undefined) {
    const o = Buffer.alloc(8);
    if (be) { o.writeUInt16BE(9, 0); o.writeUInt16BE(1, 2); } else { o.writeUInt16LE(9, 0); o.writeUInt16LE(1, 2); }
    o[4] = tsresol;
    opts.push(o, Buffer.alloc(4)); // opt_endofopt
  }
  const body = Buffer.alloc(8);
  if (be) { body.writeUInt16BE(link, 0); body.writeUInt32BE(65535, 4); } else { body.writeUInt16LE(link, 0); body.writeUInt32LE(65535, 4); }
  return block(1, Buffer.concat([body, ...opts]), be);
}

function epb(iface: number, ts: bigint, data: Buffer, be = false): Buffer {
  const h = Buffer.alloc(20);
  const w = (v: number, o: number): number => (be ? h.writeUInt32BE(v, o) : h.writeUInt32LE(v, o));
  w(iface, 0);
  w(Number(ts >> 32n), 4);
  w(Number(ts & 0xffffffffn), 8);
  w(data.length, 12);
  w(data.length, 16);
  return block(6, Buffer.concat([h, data]), be);
}

describe('pcap reader', () => {
  it('reads little-endian µs Ethernet frames and counts what it skips', () => {
    const file = pcap([
      { sec: 1_700_000_000, frac: 250_000, data: ether(ipUdp(SIP)) },
      { sec: 1_700_000_001, frac: 5, data: ether(ipUdp(RESP, [10, 0, 0, 2], [10, 0, 0, 1], 5070, 5060), 0x0800, true) },
      { sec: 1_700_000_002, frac: 0, data: ether(Buffer.alloc(40), 0x86dd) }, // IPv6
      { sec: 1_700_000_002, frac: 0, data: ether(ipUdp(SIP, undefined, undefined, 1, 2, { proto: 6 })) }, // "TCP"
      { sec: 1_700_000_002, frac: 0, data: ether(ipUdp(Buffer.from('hello world\r\n'))) },
      { sec: 1_700_000_002, frac: 0, data: ether(ipUdp(SIP, undefined, undefined, 1, 2, { frag: 0x2000 })) },
      { sec: 1_700_000_003, frac: 0, data: ether(ipUdp(SIP)).subarray(0, 40) }, // cut by snaplen
    ]);
    const c = readCapture(file);
    expect(c.format).toBe('pcap');
    expect(c.frames).toBe(7);
    expect(c.datagrams).toHaveLength(2);
    const [a, b] = c.datagrams;
    expect(a.tsUs).toBe(1_700_000_000_250_000);
    expect([a.src, a.srcPort, a.dst, a.dstPort]).toEqual(['10.0.0.1', 5060, '10.0.0.2', 5070]);
    expect(a.payload.equals(SIP)).toBe(true);
    expect(b.payload.equals(RESP)).toBe(true);
    expect(b.tsUs).toBe(1_700_000_001_000_005);
    expect(c.skipped).toMatchObject({ not_ipv4: 1, not_udp: 1, not_sip: 1, ip_fragment: 1, truncated: 1 });
  });

  it('reads big-endian nanosecond captures and Linux cooked (tcpdump -i any) frames', () => {
    const file = pcap([{ sec: 10, frac: 123_456_789, data: sll(ipUdp(SIP)) }], { be: true, nano: true, link: LinkType.LINUX_SLL });
    const c = readCapture(file);
    expect(c.datagrams).toHaveLength(1);
    expect(c.datagrams[0].tsUs).toBeCloseTo(10_123_456.789, 3);
    expect(c.datagrams[0].payload.equals(SIP)).toBe(true);
  });

  it('stops at a record cut short by the end of the file and keeps the earlier ones', () => {
    const whole = pcap([{ sec: 1, frac: 0, data: ether(ipUdp(SIP)) }, { sec: 2, frac: 0, data: ether(ipUdp(SIP)) }]);
    const c = readCapture(whole.subarray(0, whole.length - 10));
    expect(c.datagrams).toHaveLength(1);
    expect(c.skipped.truncated).toBe(1);
  });

  it('counts unknown link types, refuses files that are not captures', () => {
    const c = readCapture(pcap([{ sec: 1, frac: 0, data: Buffer.alloc(60) }], { link: 105 /* 802.11 */ }));
    expect(c.skipped.unknown_link).toBe(1);
    expect(() => readCapture(Buffer.from('GIF89a........................'))).toThrowError(CaptureError);
    try {
      readCapture(Buffer.from('not a capture at all'));
    } catch (e) {
      expect((e as CaptureError).code).toBe('CAPTURE_BAD_MAGIC');
    }
  });
});

describe('pcapng reader', () => {
  it('reads enhanced packet blocks with per-interface link types and timestamp resolution', () => {
    const file = Buffer.concat([
      shb(),
      idb(LinkType.ETHERNET), // default resolution: µs
      idb(LinkType.LINUX_SLL, 9), // ns
      block(0x00000004, Buffer.alloc(8)), // a name-resolution block: skipped by length
      epb(0, 1_700_000_000_500_000n, ether(ipUdp(SIP))),
      epb(1, 1_700_000_000_000_000_123n, sll(ipUdp(RESP))),
      epb(0, 1n, ether(Buffer.alloc(40), 0x0806)), // ARP
    ]);
    const c = readCapture(file);
    expect(c.format).toBe('pcapng');
    expect(c.frames).toBe(3);
    expect(c.datagrams).toHaveLength(2);
    expect(c.datagrams[0].tsUs).toBe(1_700_000_000_500_000);
    expect(c.datagrams[0].payload.equals(SIP)).toBe(true);
    expect(c.datagrams[1].tsUs).toBeCloseTo(1_700_000_000_000_000.123, -1);
    expect(c.datagrams[1].payload.equals(RESP)).toBe(true);
    expect(c.skipped.not_ipv4).toBe(1);
  });

  it('reads a big-endian section, a simple packet block, and a second section with its own interfaces', () => {
    const spbBody = Buffer.alloc(4);
    const raw = ipUdp(SIP, [127, 0, 0, 9], [127, 0, 0, 10], 4000, 5060);
    spbBody.writeUInt32BE(raw.length, 0);
    const file = Buffer.concat([
      shb(true),
      idb(LinkType.RAW, undefined, true),
      block(3, Buffer.concat([spbBody, raw]), true),
      shb(false),
      idb(LinkType.ETHERNET),
      epb(0, 7n, ether(ipUdp(SIP))),
    ]);
    const c = readCapture(file);
    expect(c.datagrams.map((d) => `${d.src}:${d.srcPort}`)).toEqual(['127.0.0.9:4000', '10.0.0.1:5060']);
    expect(c.datagrams[0].payload.equals(SIP)).toBe(true);
  });

  it('keeps the packets before a block cut by the end of the file', () => {
    const file = Buffer.concat([shb(), idb(LinkType.ETHERNET), epb(0, 1n, ether(ipUdp(SIP))), epb(0, 2n, ether(ipUdp(SIP)))]);
    const c = readCapture(file.subarray(0, file.length - 8));
    expect(c.datagrams).toHaveLength(1);
    expect(c.skipped.truncated).toBe(1);
  });
});

describe('looksLikeSip', () => {
  it('accepts request and status lines, refuses the rest', () => {
    expect(looksLikeSip(SIP)).toBe(true);
    expect(looksLikeSip(RESP)).toBe(true);
    expect(looksLikeSip(Buffer.from('HTTP/1.1 200 OK\r\n'))).toBe(false);
    expect(looksLikeSip(Buffer.from('GET / HTTP/1.1\r\n'))).toBe(false);
    expect(looksLikeSip(Buffer.from('INVITE sip:x SIP/2.0'))).toBe(false); // no line end
  });
});
