/**
 * Reads SIP-over-UDP datagrams out of a packet capture, for the replayer.
 *
 * Both capture formats are read here, without libpcap:
 *   - pcap (the classic libpcap format): a 24-byte global header whose magic gives the
 *     byte order and the timestamp unit (µs 0xa1b2c3d4, ns 0xa1b23c4d), then records of
 *     16-byte header + frame.
 *   - pcapng (IETF draft-ietf-opsawg-pcapng): blocks of (type, length, body, length);
 *     the Section Header Block's byte-order magic 0x1a2b3c4d gives the endianness of its
 *     section, Interface Description Blocks give each interface's link type and
 *     timestamp resolution (option if_tsresol), Enhanced / Simple / obsolete Packet
 *     Blocks carry frames. Any other block is skipped by its length.
 *
 * Link layers: Ethernet (with 802.1Q/802.1ad tags), Linux cooked v1 and v2 (what
 * `tcpdump -i any` writes), BSD loopback (DLT_NULL) and raw IPv4. Only IPv4 + UDP whose
 * payload starts like a SIP message is kept; everything else is counted by reason so a
 * user knows what the capture held. IP fragments are not reassembled (counted).
 *
 * Runs once per replay, before any traffic: it allocates freely.
 */

export class CaptureError extends Error {
  constructor(
    readonly code: 'CAPTURE_BAD_MAGIC' | 'CAPTURE_BAD_BLOCK' | 'CAPTURE_EMPTY',
    message: string,
  ) {
    super(message);
    this.name = 'CaptureError';
  }
}

/** One UDP datagram carrying SIP, as captured. */
export interface CapturedDatagram {
  /** Capture timestamp, microseconds since 1970 (sub-µs precision kept as a fraction). */
  tsUs: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Buffer;
}

/** Why a captured frame was not kept. Stable names: they are printed and put in JSON. */
export const SKIP_REASONS = [
  'truncated', // frame shorter than its headers say (snaplen or a cut file)
  'unknown_link', // link type this reader does not decode
  'not_ipv4', // IPv6, ARP, ...
  'not_udp', // TCP, ICMP, ... (SIP over TCP is not replayed)
  'ip_fragment', // fragments are not reassembled
  'bad_ip_header',
  'not_sip', // UDP, but the payload does not start like a SIP message
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface CaptureContents {
  format: 'pcap' | 'pcapng';
  /** Frames (packets) seen in the file. */
  frames: number;
  datagrams: CapturedDatagram[];
  skipped: Record<SkipReason, number>;
}

/** Link-layer header types (tcpdump.org/linktypes.html). */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LINUX_SLL: 113,
  IPV4: 228,
  LINUX_SLL2: 276,
} as const;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER = 0x1a2b3c4d;

/** Read a capture held in memory, pcap or pcapng by its magic. */
export function readCapture(buf: Buffer): CaptureContents {
  if (buf.length < 4) throw new CaptureError('CAPTURE_EMPTY', 'capture file is shorter than any header');
  const be = buf.readUInt32BE(0);
  if (be === PCAPNG_SHB) return readPcapng(buf);
  const le = buf.readUInt32LE(0);
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS || be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return readPcap(buf);
  throw new CaptureError('CAPTURE_BAD_MAGIC', `not a pcap or pcapng file (magic 0x${be.toString(16).padStart(8, '0')})`);
}

function emptyContents(format: 'pcap' | 'pcapng'): CaptureContents {
  const skipped = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  return { format, frames: 0, datagrams: [], skipped };
}

/** Classic pcap. */
export function readPcap(buf: Buffer): CaptureContents {
  if (buf.length < 24) throw new CaptureError('CAPTURE_EMPTY', 'pcap file is shorter than its 24-byte header');
  const magicLe = buf.readUInt32LE(0);
  const le = magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS;
  const magic = le ? magicLe : buf.readUInt32BE(0);
  if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) throw new CaptureError('CAPTURE_BAD_MAGIC', 'not a pcap file');
  const nano = magic === PCAP_MAGIC_NS;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  // The link type is the low 16 bits; the upper bits may hold FCS info (pcap spec §"LinkType and additional information").
  const link = u32(20) & 0xffff;
  const out = emptyContents('pcap');
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) {
      out.frames++;
      out.skipped.truncated++;
      break;
    }
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    off += 16;
    out.frames++;
    if (off + incl > buf.length) {
      out.skipped.truncated++;
      break;
    }
    const tsUs = sec * 1e6 + (nano ? frac / 1000 : frac);
    decodeFrame(buf.subarray(off, off + incl), link, tsUs, out);
    off += incl;
  }
  return out;
}

interface NgInterface {
  link: number;
  /** Timestamp units per second. */
  unitsPerSec: number;
}

/** pcapng: every section, every interface. */
export function readPcapng(buf: Buffer): CaptureContents {
  const out = emptyContents('pcapng');
  let le = true;
  let ifaces: NgInterface[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    let type = le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    if (buf.readUInt32BE(off) === PCAPNG_SHB) {
      // A new section: its own byte order and its own interface list.
      type = PCAPNG_SHB;
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BYTE_ORDER) le = true;
      else if (buf.readUInt32BE(off + 8) === PCAPNG_BYTE_ORDER) le = false;
      else throw new CaptureError('CAPTURE_BAD_MAGIC', `pcapng section header at ${off} has no byte-order magic`);
      ifaces = [];
    }
    const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const len = u32(off + 4);
    if (len < 12 || len % 4 !== 0) throw new CaptureError('CAPTURE_BAD_BLOCK', `pcapng block at ${off} has length ${len}`);
    if (off + len > buf.length) {
      // A file cut mid-block (a capture still being written): keep what came before.
      if (type === 6 || type === 3 || type === 2) {
        out.frames++;
        out.skipped.truncated++;
      }
      break;
    }
    const body = off + 8;
    const bodyEnd = off + len - 4;
    /** Enhanced and Obsolete Packet Blocks: ts high, ts low, captured len, original len, data from body+20. */
    const timedPacket = (ifaceId: number, at: number, end: number): void => {
      out.frames++;
      const iface = ifaces[ifaceId];
      const cap = u32(at + 12);
      const data = at + 20;
      if (iface === undefined) out.skipped.unknown_link++;
      else if (data + cap > end) out.skipped.truncated++;
      else decodeFrame(buf.subarray(data, data + cap), iface.link, ((u32(at + 4) * 2 ** 32 + u32(at + 8)) / iface.unitsPerSec) * 1e6, out);
    };
    switch (type) {
      case 1: {
        // Interface Description Block: link type, reserved, snaplen, options.
        const iface: NgInterface = { link: u16(body), unitsPerSec: 1e6 };
        forEachOption(buf, body + 8, bodyEnd, u16, (code, at, n) => {
          if (code === 9 && n >= 1) {
            // if_tsresol: MSB clear = 10^-v seconds, set = 2^-v seconds.
            const v = buf[at];
            iface.unitsPerSec = v & 0x80 ? 2 ** (v & 0x7f) : 10 ** v;
          }
        });
        ifaces.push(iface);
        break;
      }
      case 6:
        // Enhanced Packet Block: interface id (32), ts high, ts low, captured len, original len, data.
        timedPacket(u32(body), body, bodyEnd);
        break;
      case 3: {
        // Simple Packet Block: original length, data (captured length implied by the block length); no timestamp.
        out.frames++;
        const iface = ifaces[0];
        if (iface === undefined) { out.skipped.unknown_link++; break; }
        const orig = u32(body);
        const cap = Math.min(orig, bodyEnd - (body + 4));
        decodeFrame(buf.subarray(body + 4, body + 4 + cap), iface.link, 0, out);
        break;
      }
      case 2:
        // Obsolete Packet Block: interface id (16), drops (16), then as the Enhanced one.
        timedPacket(u16(body), body, bodyEnd);
        break;
      default:
        // Section header (handled above), name resolution, statistics, custom...: nothing to replay.
        break;
    }
    off += len;
  }
  return out;
}

function forEachOption(
  buf: Buffer, from: number, to: number, u16: (o: number) => number,
  fn: (code: number, at: number, len: number) => void,
): void {
  let o = from;
  while (o + 4 <= to) {
    const code = u16(o);
    const n = u16(o + 2);
    if (code === 0) return; // opt_endofopt
    if (o + 4 + n > to) return;
    fn(code, o + 4, n);
    o += 4 + ((n + 3) & ~3);
  }
}

/** Strip the link layer, then IPv4 and UDP; keep SIP. */
function decodeFrame(f: Buffer, link: number, tsUs: number, out: CaptureContents): void {
  let ip: number;
  let ethertype: number;
  switch (link) {
    case LinkType.ETHERNET: {
      if (f.length < 14) { out.skipped.truncated++; return; }
      ethertype = f.readUInt16BE(12);
      ip = 14;
      // 802.1Q / 802.1ad tags, possibly stacked (QinQ).
      while (ethertype === 0x8100 || ethertype === 0x88a8) {
        if (f.length < ip + 4) { out.skipped.truncated++; return; }
        ethertype = f.readUInt16BE(ip + 2);
        ip += 4;
      }
      break;
    }
    case LinkType.LINUX_SLL:
      if (f.length < 16) { out.skipped.truncated++; return; }
      ethertype = f.readUInt16BE(14);
      ip = 16;
      break;
    case LinkType.LINUX_SLL2:
      if (f.length < 20) { out.skipped.truncated++; return; }
      ethertype = f.readUInt16BE(0);
      ip = 20;
      break;
    case LinkType.NULL: {
      // The address family in the byte order of the capturing host: 2 = AF_INET either way round.
      if (f.length < 4) { out.skipped.truncated++; return; }
      const fam = f.readUInt32LE(0);
      ethertype = fam === 2 || f.readUInt32BE(0) === 2 ? 0x0800 : 0;
      ip = 4;
      break;
    }
    case LinkType.RAW:
    case LinkType.IPV4:
      if (f.length < 1) { out.skipped.truncated++; return; }
      ethertype = f[0] >> 4 === 4 ? 0x0800 : 0;
      ip = 0;
      break;
    default:
      out.skipped.unknown_link++;
      return;
  }
  if (ethertype !== 0x0800) { out.skipped.not_ipv4++; return; }
  decodeIpv4(f, ip, tsUs, out);
}

function decodeIpv4(f: Buffer, ip: number, tsUs: number, out: CaptureContents): void {
  if (f.length < ip + 20) { out.skipped.truncated++; return; }
  const vihl = f[ip];
  if (vihl >> 4 !== 4) { out.skipped.not_ipv4++; return; }
  const ihl = (vihl & 0x0f) * 4;
  const total = f.readUInt16BE(ip + 2);
  if (ihl < 20 || total < ihl) { out.skipped.bad_ip_header++; return; }
  if (f.length < ip + total) { out.skipped.truncated++; return; }
  const fragment = f.readUInt16BE(ip + 6);
  // RFC 791: MF flag (0x2000) or a non-zero fragment offset: part of a larger datagram.
  if ((fragment & 0x3fff) !== 0) { out.skipped.ip_fragment++; return; }
  if (f[ip + 9] !== 17) { out.skipped.not_udp++; return; }
  const udp = ip + ihl;
  if (total < ihl + 8) { out.skipped.truncated++; return; }
  const udpLen = f.readUInt16BE(udp + 4);
  if (udpLen < 8 || udp + udpLen > ip + total) { out.skipped.truncated++; return; }
  const payload = f.subarray(udp + 8, udp + udpLen);
  if (!looksLikeSip(payload)) { out.skipped.not_sip++; return; }
  out.datagrams.push({
    tsUs,
    src: `${f[ip + 12]}.${f[ip + 13]}.${f[ip + 14]}.${f[ip + 15]}`,
    srcPort: f.readUInt16BE(udp),
    dst: `${f[ip + 16]}.${f[ip + 17]}.${f[ip + 18]}.${f[ip + 19]}`,
    dstPort: f.readUInt16BE(udp + 2),
    // A copy: the capture file's buffer can then be dropped.
    payload: Buffer.from(payload),
  });
}

/** RFC 3261 §7.1/§7.2: "Method SP Request-URI SP SIP/2.0 CRLF" or "SIP/2.0 SP code". */
export function looksLikeSip(p: Uint8Array): boolean {
  const n = Math.min(p.length, 512);
  let eol = -1;
  for (let i = 0; i < n; i++) {
    if (p[i] === 0x0d || p[i] === 0x0a) { eol = i; break; }
  }
  if (eol < 0) return false;
  const line = Buffer.from(p.subarray(0, eol)).toString('latin1');
  return /^SIP\/2\.0 [1-6]\d\d( |$)/.test(line) || /^[A-Za-z][A-Za-z0-9.!%*_+`'~-]* \S+ SIP\/2\.0$/.test(line);
}
