/**
 * nftables ruleset for a stateless DSR load balancer in front of the farm.
 *
 * The LB is one netdev-family ingress chain on the interface that faces the members'
 * L2 segment: a SIP datagram for VIP:port gets the destination MAC of a member and is
 * sent straight back out of the same interface (`fwd`). The IP packet is untouched —
 * destination still the VIP, source still the client — so the member (which holds the
 * VIP on lo, with ARP for it suppressed) delivers it to its VIP socket and answers the
 * client directly (DSR). No conntrack, no NAT: any member may get any datagram, which
 * is exactly what the farm's classifier is for.
 *
 * What the chain does, in rule order (netdev ingress sees packets before reassembly):
 *  1. **IP fragments** of UDP datagrams for the VIP (MF set or offset ≠ 0): only the
 *     first fragment carries the UDP header, so a port-based choice would send the rest
 *     nowhere (or, sprayed, to other members, where they never reassemble). Every
 *     fragment — the first one too — is hashed on `ip saddr . ip id`, which all the
 *     fragments of one datagram share (RFC 791 §3.2: source, destination, protocol and
 *     identification name the datagram being reassembled).
 *  2. **SIP over UDP** to VIP:port: `numgen random` (per datagram) or `jhash` over source
 *     address and port (per flow).
 *  3. **SIP over TCP** to VIP:port (optional): always per flow — spraying the segments
 *     of one connection would break it.
 *  4. **Single-IP media**: each member's RTP port range on the media address goes to
 *     that member's MAC (the stream lives where it was allocated); not health-checked.
 *  5. Datagrams for the VIP that found no live member are dropped and counted.
 *
 * The member choice of rules 1–3 is a lookup in one named map, `slots`: a fixed number
 * of slots (DSR_SLOTS), each holding the MAC of a live member. The LB's health checker
 * changes the live set by replacing the map's elements in one nft transaction
 * (nftablesDsrSetLive): atomic, the rules and their counters stay as they are.
 *
 * LB health probes go from the LB's own address to each member's own address and come
 * back to the LB's address: neither direction is for the VIP, so no rule here touches
 * them, and the answer really comes from the member that was probed.
 *
 * The source MAC is rewritten to the LB's own: otherwise a learning bridge/switch sees
 * the client's MAC arrive on the LB's port and sends the replies for the client there.
 *
 * Pure text generation (no I/O): the caller loads it with `nft -f -`. The output is a
 * single atomic transaction that replaces the table.
 */

export type LbMode = 'random' | 'flow';

/** An inclusive UDP port range. */
export interface PortRange {
  first: number;
  last: number;
}

export interface DsrMember {
  /** Farm member id (0..254); orders the slot map. */
  id: number;
  /** The member's MAC on the LB's segment, `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Single-IP media: the member's RTP/RTCP port range on the media address. */
  mediaPorts?: PortRange;
}

export interface NftablesDsrOptions {
  /** Interface the datagrams arrive on and are forwarded out of. */
  iface: string;
  /** The VIP (IPv4 dotted quad). */
  vip: string;
  /** UDP (and TCP when `tcp`) port of the VIP, normally 5060. */
  port: number;
  /** The LB's own MAC on `iface`: becomes the source MAC of forwarded frames. */
  lbMac: string;
  /** Every configured member (their MACs and media ranges). */
  members: readonly DsrMember[];
  /**
   * Ids of the members in the slot map now (the health-checked set). Default: all of
   * `members`. Empty = SIP for the VIP is dropped (nobody to send it to).
   */
  live?: readonly number[];
  /**
   * `random`: every datagram goes to a member picked at random (`numgen random`) — the
   * worst case for the farm, and the default. `flow`: one member per client source
   * address and port (`jhash ip saddr . udp sport`), like an ordinary L4 LB.
   */
  mode: LbMode;
  /** nftables table name (netdev family). Default `sipfarm_dsr`. */
  table?: string;
  /**
   * Also balance TCP to VIP:port. TCP is always hashed per flow (`jhash` over source
   * address and port), whatever `mode` says: spraying the segments of one connection
   * would break it.
   */
  tcp?: boolean;
  /** Single-IP media address (the WAN media address); default the VIP. */
  mediaAddress?: string;
}

/** A ruleset the generator refuses to write. */
export class NftablesConfigError extends Error {
  readonly code: 'ERR_NFT_IFACE' | 'ERR_NFT_ADDRESS' | 'ERR_NFT_PORT' | 'ERR_NFT_MAC' | 'ERR_NFT_MEMBER' | 'ERR_NFT_TABLE';
  constructor(code: NftablesConfigError['code'], message: string) {
    super(message);
    this.name = 'NftablesConfigError';
    this.code = code;
  }
}

export const DEFAULT_DSR_TABLE = 'sipfarm_dsr';
/** Name of the slot map inside the table. */
export const DSR_SLOT_MAP = 'slots';
/**
 * Number of slots the random/hash result indexes. 240 = 2⁴·3·5 divides evenly among
 * 1–6, 8, 10, 12, 15, 16… members; for other counts the spread is off by one slot at
 * most (≤ 3 % skew up to 7 members).
 */
export const DSR_SLOTS = 240;

// Fixed seed: the same member set always maps a flow to the same member (reproducible
// tests, and LBs in an active/standby pair agree).
const JHASH_SEED = '0x5f1f';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const IFACE_RE = /^[A-Za-z0-9_.-]{1,15}$/; // IFNAMSIZ - 1; nothing that needs quoting
const TABLE_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

function isIpv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

function checkMac(mac: string, what: string): string {
  if (!MAC_RE.test(mac)) throw new NftablesConfigError('ERR_NFT_MAC', `${what}: '${mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  return mac.toLowerCase();
}

function checkTable(table: string): string {
  if (!TABLE_RE.test(table)) throw new NftablesConfigError('ERR_NFT_TABLE', `table name '${table}' is not a plain identifier`);
  return table;
}

/**
 * The MAC in each slot for a live set: slot s → the (s mod n)-th live member in id
 * order. A pure function of the live set, so every LB (and every re-apply) agrees.
 */
export function dsrSlotMacs(live: readonly Pick<DsrMember, 'id' | 'mac'>[]): string[] {
  const sorted = [...live].sort((a, b) => a.id - b.id).map((m) => checkMac(m.mac, `member ${m.id}`));
  if (sorted.length === 0) return [];
  return Array.from({ length: DSR_SLOTS }, (_, s) => sorted[s % sorted.length]);
}

/** `0 : mac, 1 : mac, …`, eight per line, indented for the map body. */
function slotElements(macs: readonly string[], indent: string): string {
  const items = macs.map((m, i) => `${i} : ${m}`);
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 8) lines.push(items.slice(i, i + 8).join(', '));
  return `{ ${lines.join(`,\n${indent}`)} }`;
}

/**
 * The ruleset text. Throws NftablesConfigError on an unusable interface name, VIP,
 * port, MAC, duplicate member id or MAC, unknown live id, or overlapping media ranges.
 */
export function nftablesDsrRuleset(opts: NftablesDsrOptions): string {
  const table = checkTable(opts.table ?? DEFAULT_DSR_TABLE);
  if (!IFACE_RE.test(opts.iface)) throw new NftablesConfigError('ERR_NFT_IFACE', `interface name '${opts.iface}' is not valid`);
  if (!isIpv4(opts.vip)) throw new NftablesConfigError('ERR_NFT_ADDRESS', `VIP '${opts.vip}' is not an IPv4 address`);
  const mediaAddress = opts.mediaAddress ?? opts.vip;
  if (!isIpv4(mediaAddress)) throw new NftablesConfigError('ERR_NFT_ADDRESS', `media address '${mediaAddress}' is not an IPv4 address`);
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) {
    throw new NftablesConfigError('ERR_NFT_PORT', `port ${opts.port} is outside 1..65535`);
  }
  if (opts.mode !== 'random' && opts.mode !== 'flow') {
    throw new NftablesConfigError('ERR_NFT_MEMBER', `mode '${String(opts.mode)}' is neither 'random' nor 'flow'`);
  }
  const lbMac = checkMac(opts.lbMac, 'lbMac');
  const members = [...opts.members].sort((a, b) => a.id - b.id);
  const ids = new Set<number>();
  const macs = new Set<string>();
  for (const m of members) {
    if (!Number.isInteger(m.id) || m.id < 0 || m.id > 254) throw new NftablesConfigError('ERR_NFT_MEMBER', `member id ${m.id} is outside 0..254`);
    if (ids.has(m.id)) throw new NftablesConfigError('ERR_NFT_MEMBER', `member id ${m.id} is listed twice`);
    const mac = checkMac(m.mac, `member ${m.id}`);
    if (macs.has(mac)) throw new NftablesConfigError('ERR_NFT_MEMBER', `MAC ${mac} is listed for two members`);
    ids.add(m.id);
    macs.add(mac);
  }
  const liveIds = opts.live === undefined ? members.map((m) => m.id) : [...new Set(opts.live)];
  for (const id of liveIds) {
    if (!ids.has(id)) throw new NftablesConfigError('ERR_NFT_MEMBER', `live member ${id} is not among the members`);
  }
  const live = members.filter((m) => liveIds.includes(m.id));

  const media = members.filter((m) => m.mediaPorts !== undefined);
  for (const m of media) {
    const r = m.mediaPorts as PortRange;
    if (!Number.isInteger(r.first) || !Number.isInteger(r.last) || r.first < 1 || r.last > 65535 || r.first > r.last) {
      throw new NftablesConfigError('ERR_NFT_PORT', `member ${m.id}: media ports ${r.first}-${r.last} are not a range within 1..65535`);
    }
    if (mediaAddress === opts.vip && r.first <= opts.port && opts.port <= r.last) {
      throw new NftablesConfigError('ERR_NFT_PORT', `member ${m.id}: media ports ${r.first}-${r.last} on the VIP include the SIP port ${opts.port}`);
    }
    for (const o of media) {
      const q = o.mediaPorts as PortRange;
      if (o.id < m.id && q.first <= r.last && r.first <= q.last) {
        throw new NftablesConfigError('ERR_NFT_PORT', `media ports of members ${o.id} and ${m.id} overlap (${q.first}-${q.last}, ${r.first}-${r.last})`);
      }
    }
  }

  const dst = `ip daddr ${opts.vip}`;
  const fwd = `ether saddr set ${lbMac} ether daddr set`;
  const out = `counter fwd to "${opts.iface}"`;
  // RFC 791 §2.3/§3.2: MF flag or a non-zero offset = a fragment; 0x3fff masks both.
  const fragment = `${dst} ip protocol udp ip frag-off & 0x3fff != 0`;
  const udpPick = opts.mode === 'random'
    ? `numgen random mod ${DSR_SLOTS}`
    : `jhash ip saddr . udp sport mod ${DSR_SLOTS} seed ${JHASH_SEED}`;

  const rules = [
    `${fragment} ${fwd} jhash ip saddr . ip id mod ${DSR_SLOTS} seed ${JHASH_SEED} map @${DSR_SLOT_MAP} ${out} comment "fragments: one member per datagram"`,
    `${dst} udp dport ${opts.port} ${fwd} ${udpPick} map @${DSR_SLOT_MAP} ${out} comment "sip udp"`,
  ];
  if (opts.tcp) {
    rules.push(`${dst} tcp dport ${opts.port} ${fwd} jhash ip saddr . tcp sport mod ${DSR_SLOTS} seed ${JHASH_SEED} map @${DSR_SLOT_MAP} ${out} comment "sip tcp"`);
  }
  for (const m of media) {
    const r = m.mediaPorts as PortRange;
    rules.push(`ip daddr ${mediaAddress} udp dport ${r.first}-${r.last} ${fwd} ${m.mac.toLowerCase()} ${out} comment "media m${m.id}"`);
  }
  // A lookup in an empty map (no live member) does not match: those packets end here.
  rules.push(`${fragment} counter drop comment "no live member"`);
  rules.push(`${dst} udp dport ${opts.port} counter drop comment "no live member"`);
  if (opts.tcp) rules.push(`${dst} tcp dport ${opts.port} counter drop comment "no live member"`);

  const slotMacs = dsrSlotMacs(live);
  const summary = `sipfarm DSR ${opts.vip}:${opts.port} mode=${opts.mode} members=${members.map((m) => m.id).join(',') || 'none'} live=${live.map((m) => m.id).join(',') || 'none'}`;
  // Declaring the table first makes `delete table` succeed on the first load too; the
  // three statements are one nft transaction, so the swap is atomic.
  return [
    `# ${summary}`,
    `# Health probes (LB address -> member address) are not for the VIP: no rule touches them.`,
    `table netdev ${table} {}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
    `  map ${DSR_SLOT_MAP} {`,
    `    typeof numgen random mod ${DSR_SLOTS} : ether daddr`,
    ...(slotMacs.length > 0 ? [`    elements = ${slotElements(slotMacs, '                 ')}`] : []),
    `  }`,
    `  chain ingress {`,
    `    type filter hook ingress device "${opts.iface}" priority 0; policy accept;`,
    ...rules.map((r) => `    ${r}`),
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/**
 * nft input that sets the live members of a loaded table: the slot map's elements are
 * replaced in one transaction (atomic; rules and counters untouched). An empty `live`
 * empties the map, and the "no live member" rules drop SIP for the VIP.
 */
export function nftablesDsrSetLive(live: readonly Pick<DsrMember, 'id' | 'mac'>[], table: string = DEFAULT_DSR_TABLE): string {
  checkTable(table);
  const macs = dsrSlotMacs(live);
  const lines = [`flush map netdev ${table} ${DSR_SLOT_MAP}`];
  if (macs.length > 0) lines.push(`add element netdev ${table} ${DSR_SLOT_MAP} ${slotElements(macs, '  ')}`);
  return lines.join('\n') + '\n';
}

/** nft input that removes the table (idempotent: declares it first). */
export function nftablesDsrDelete(table: string = DEFAULT_DSR_TABLE): string {
  checkTable(table);
  return `table netdev ${table} {}\ndelete table netdev ${table}\n`;
}

export interface DsrRulesetState {
  /** The UDP SIP rule's mode, or undefined when there is none. */
  mode: LbMode | undefined;
  /** Distinct MACs in the slot map, lowercased, in first-slot order. */
  liveMacs: string[];
}

/** Reads mode and live set back from `nft list table netdev <table>` output. */
export function parseDsrRuleset(listing: string): DsrRulesetState {
  let mode: LbMode | undefined;
  for (const line of listing.split('\n')) {
    if (!/\budp dport \d+ .*\bfwd to\b/.test(line) || /\bdport \d+-\d+/.test(line)) continue;
    if (/\bnumgen random\b/.test(line)) mode = 'random';
    else if (/\bjhash ip saddr \. udp sport\b/.test(line)) mode = 'flow';
  }
  const map = new RegExp(`map ${DSR_SLOT_MAP} \\{[^}]*?elements = \\{([^}]*)\\}`, 's').exec(listing);
  const liveMacs: string[] = [];
  for (const m of map?.[1].match(/([0-9a-f]{2}:){5}[0-9a-f]{2}/gi) ?? []) {
    const mac = m.toLowerCase();
    if (!liveMacs.includes(mac)) liveMacs.push(mac);
  }
  return { mode, liveMacs };
}
