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
 * The source MAC is rewritten to the LB's own: otherwise a learning bridge/switch sees
 * the client's MAC arrive on the LB's port and sends the replies for the client there.
 *
 * Pure text generation (no I/O): the caller loads it with `nft -f -`. The output is a
 * single atomic transaction that replaces the table, so re-applying it with another
 * member set (the LB's health check dropping a dead member) never leaves a window
 * without a rule.
 */

export type LbMode = 'random' | 'flow';

export interface DsrMember {
  /** Farm member id (0..254); only used to order the map and in the comment. */
  id: number;
  /** The member's MAC on the LB's segment, `aa:bb:cc:dd:ee:ff`. */
  mac: string;
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
  /** Live members; empty = datagrams for the VIP are dropped (nobody to send them to). */
  members: readonly DsrMember[];
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

/** `{ 0 : mac, 1 : mac, ... }` — the numgen/jhash result indexes the members in id order. */
function macMap(macs: readonly string[]): string {
  return `{ ${macs.map((m, i) => `${i} : ${m}`).join(', ')} }`;
}

/**
 * The ruleset text. Throws NftablesConfigError on an unusable interface name, VIP,
 * port, MAC, duplicate member id or MAC.
 */
export function nftablesDsrRuleset(opts: NftablesDsrOptions): string {
  const table = opts.table ?? DEFAULT_DSR_TABLE;
  if (!TABLE_RE.test(table)) throw new NftablesConfigError('ERR_NFT_TABLE', `table name '${table}' is not a plain identifier`);
  if (!IFACE_RE.test(opts.iface)) throw new NftablesConfigError('ERR_NFT_IFACE', `interface name '${opts.iface}' is not valid`);
  if (!isIpv4(opts.vip)) throw new NftablesConfigError('ERR_NFT_ADDRESS', `VIP '${opts.vip}' is not an IPv4 address`);
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
  const memberMacs = members.map((m) => m.mac.toLowerCase());
  const n = memberMacs.length;
  const dst = `ip daddr ${opts.vip}`;

  const rules: string[] = [];
  if (n === 0) {
    rules.push(`${dst} udp dport ${opts.port} counter drop comment "no live member"`);
    if (opts.tcp) rules.push(`${dst} tcp dport ${opts.port} counter drop comment "no live member"`);
  } else {
    const udpPick = opts.mode === 'random'
      ? `numgen random mod ${n}`
      : `jhash ip saddr . udp sport mod ${n} seed ${JHASH_SEED}`;
    rules.push(`${dst} udp dport ${opts.port} ether saddr set ${lbMac} ether daddr set ${udpPick} map ${macMap(memberMacs)} counter fwd to "${opts.iface}"`);
    if (opts.tcp) {
      rules.push(`${dst} tcp dport ${opts.port} ether saddr set ${lbMac} ether daddr set jhash ip saddr . tcp sport mod ${n} seed ${JHASH_SEED} map ${macMap(memberMacs)} counter fwd to "${opts.iface}"`);
    }
  }

  const summary = `sipfarm DSR ${opts.vip}:${opts.port} mode=${opts.mode} members=${members.map((m) => m.id).join(',') || 'none'}`;
  // Declaring the table first makes `delete table` succeed on the first load too; the
  // three statements are one nft transaction, so the swap is atomic.
  return [
    `# ${summary}`,
    `table netdev ${table} {}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
    `  chain ingress {`,
    `    type filter hook ingress device "${opts.iface}" priority 0; policy accept;`,
    ...rules.map((r) => `    ${r}`),
    `  }`,
    `}`,
    '',
  ].join('\n');
}

/** nft input that removes the table (idempotent: declares it first). */
export function nftablesDsrDelete(table: string = DEFAULT_DSR_TABLE): string {
  if (!TABLE_RE.test(table)) throw new NftablesConfigError('ERR_NFT_TABLE', `table name '${table}' is not a plain identifier`);
  return `table netdev ${table} {}\ndelete table netdev ${table}\n`;
}
