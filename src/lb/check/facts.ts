/**
 * The "host facts" `sipfarm check` judges: a plain snapshot of what the host looks like,
 * gathered once by a privileged/IO layer (linux.ts) and judged by pure functions
 * (rules.ts). The fence is deliberate (katran's habit): the rules run in plain unit
 * tests with hand-written facts, no root, no namespaces, no sockets.
 */

/** The per-interface IPv4 knobs DSR depends on (`net.ipv4.conf.<if>.<knob>`). */
export type ConfKnob = 'arp_ignore' | 'arp_announce' | 'rp_filter';
export const CONF_KNOBS: readonly ConfKnob[] = ['arp_ignore', 'arp_announce', 'rp_filter'];

/** Values read from /proc/sys/net/ipv4/conf/<name>/; a knob missing = unreadable. */
export type ConfValues = Partial<Record<ConfKnob, number>>;

export interface HostAddress {
  family: 4 | 6;
  address: string;
  prefixLen: number;
}

export interface HostInterface {
  name: string;
  /** IFF_LOOPBACK. */
  loopback: boolean;
  /** IFF_NOARP: the kernel never answers ARP on it (tunnels, wireguard, dummy with noarp). */
  noArp: boolean;
  /** Administratively up (IFF_UP). */
  up: boolean;
  addresses: HostAddress[];
  conf: ConfValues;
}

/** The result of trying something that can fail with an errno (bind, send). */
export type ProbeOutcome = { ok: true } | { ok: false; code: string; message: string };

/** `ip route get <dst>`: where the kernel would send a datagram for dst. */
export type RouteFacts =
  | { ok: true; dev: string; gateway?: string; prefsrc?: string; type?: string }
  | { ok: false; message: string };

export interface PeerFacts {
  id: number;
  host: string;
  route: RouteFacts;
}

export interface SourceProbeFacts {
  /** Sending from a socket bound to VIP:0 to a local echo worked; `seen` is the source the echo saw. */
  outcome: ProbeOutcome;
  seen?: string;
  /** The address the echo socket was bound to. */
  echo: string;
}

export interface HeartbeatFacts {
  /** How long the farm port was listened on. */
  listenedMs: number;
  /** Members whose authenticated heartbeats arrived. */
  fromMembers: number[];
  /** Datagrams that failed authentication/decoding, by reject name (e.g. BAD_MAC). */
  rejected: Record<string, number>;
}

export interface ClockFacts {
  nowMs: number;
  /** When this build of sipfarm was made: a clock before it is certainly wrong. */
  buildMs: number;
  /** `timedatectl show -p NTPSynchronized`; undefined when timedatectl is unavailable. */
  ntpSynchronized?: boolean;
}

export interface HostFacts {
  /** Set when the facts were read inside a network namespace; fix commands are then prefixed. */
  netns?: string;
  interfaces: HostInterface[];
  /** net.ipv4.conf.all.* — combined with each interface's value by max() in the kernel. */
  allConf: ConfValues;
  /** bind(VIP:port) on a UDP socket. */
  vipBind: ProbeOutcome;
  vipSource: SourceProbeFacts;
  /** Route towards this member's own farm address (to name an interface in the fix). */
  selfRoute: RouteFacts;
  /** bind(farm address) of this member. */
  farmBind: ProbeOutcome;
  /** Undefined when not listened (farm port busy, or disabled with --heartbeat-wait 0). */
  heartbeats?: HeartbeatFacts;
  peers: PeerFacts[];
  clock: ClockFacts;
}
