/**
 * The lab's address plan: one L2 segment, documentation address ranges only
 * (RFC 5737: 198.51.100.0/24 for the client side, 203.0.113.0/24 for the farm side).
 *
 *   client  198.51.100.10 ─┐
 *   callee  198.51.100.20 ─┤
 *   LB      198.51.100.1 + 203.0.113.1 ─┤── bridge (in the "switch" namespace)
 *   member i  203.0.113.(10+i), VIP on lo ─┘
 *
 * Client and callee reach the VIP through the LB (a /32 route); members answer them
 * directly on the shared segment (DSR). MAC addresses are fixed and locally
 * administered (02:…) so the LB map and the bridge's table are readable at a glance,
 * and so a lab can be re-attached by name alone.
 */

export const LAB_VIP = '203.0.113.100';
export const LAB_SIP_PORT = 5060;
/** Farm channel port of every member in the lab's default config. */
export const LAB_FARM_PORT = 5080;

export const LAB_CLIENT_ADDRESS = '198.51.100.10';
export const LAB_CALLEE_ADDRESS = '198.51.100.20';
/** The LB's address on the client side: client and callee route the VIP via it. */
export const LAB_LB_CLIENT_ADDRESS = '198.51.100.1';
/** The LB's address on the farm side: the source of its health probes. */
export const LAB_LB_FARM_ADDRESS = '203.0.113.1';
export const LAB_CLIENT_PREFIX = '198.51.100.0/24';
export const LAB_FARM_PREFIX = '203.0.113.0/24';

export const LAB_DEFAULT_MEMBERS = 3;
/** 203.0.113.(10+id) must stay below the VIP (.100). */
export const LAB_MAX_MEMBERS = 80;

/** Member id i (1-based) ↔ 203.0.113.(10+i). */
export function labMemberAddress(id: number): string {
  return `203.0.113.${10 + id}`;
}

/**
 * Single-IP media in the lab: member i owns UDP 10000+500·(i−1) … +499 on the VIP (the
 * LB maps each range to the member's MAC). 80 members end at 49999.
 */
export function labMemberMediaPorts(id: number): { first: number; last: number } {
  const first = 10000 + 500 * (id - 1);
  return { first, last: first + 499 };
}

const MAC_PREFIX = '02:53:46'; // 02 = locally administered; 53 46 = "SF"

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

export const LAB_LB_MAC = `${MAC_PREFIX}:00:00:01`;
export const LAB_CLIENT_MAC = `${MAC_PREFIX}:00:00:0a`;
export const LAB_CALLEE_MAC = `${MAC_PREFIX}:00:00:14`;

export function labMemberMac(id: number): string {
  return `${MAC_PREFIX}:01:00:${hex2(id)}`;
}

/** Inverse of labMemberMac, or undefined for any other MAC. */
export function labMemberIdOfMac(mac: string): number | undefined {
  const m = /^02:53:46:01:00:([0-9a-f]{2})$/i.exec(mac);
  return m ? parseInt(m[1], 16) : undefined;
}

/** Interface names: `eth0` in every host namespace, `p-<role>` for its bridge port. */
export const LAB_HOST_IFACE = 'eth0';
export const LAB_BRIDGE = 'br0';

export interface LabNamespaces {
  client: string;
  callee: string;
  lb: string;
  switch: string;
  /** members[i] is the namespace of member id i + 1. */
  members: string[];
}

export function labNamespaces(prefix: string, members: number): LabNamespaces {
  return {
    client: `${prefix}client`,
    callee: `${prefix}callee`,
    lb: `${prefix}lb`,
    switch: `${prefix}sw`,
    members: Array.from({ length: members }, (_, i) => `${prefix}m${i + 1}`),
  };
}

/** Lab prefixes: a letter, then letters, digits or '-'; short enough for readable names. */
export const LAB_PREFIX_RE = /^[a-z][a-z0-9-]{0,23}$/;
