// Socket addresses as operators write them: 'a.b.c.d:port' or '[v6]:port'.
// Control-plane code only (config, CLI, admin): these helpers allocate freely.

import { isIP } from 'node:net';

export interface HostPort {
  /** IP literal (IPv6 without brackets) or, where a caller allows it, a host name. */
  host: string;
  /** 0..65535; parseHostPort only yields 1..65535, 0 appears only for "any port" binds. */
  port: number;
}

/** Why a host:port string was refused; `reason` is a stable short code. */
export class AddrError extends Error {
  readonly code = 'ERR_ADDR';
  constructor(
    readonly input: string,
    readonly reason: 'syntax' | 'port' | 'host' | 'ipv6-brackets',
    message: string,
  ) {
    super(message);
    this.name = 'AddrError';
  }
}

/** True for an IPv4 dotted quad or an IPv6 literal (no brackets, no port). */
export function isIpLiteral(s: string): boolean {
  return isIP(s) !== 0;
}

/** 4 or 6 for an IP literal, 0 otherwise. */
export function ipFamily(s: string): 0 | 4 | 6 {
  return isIP(s) as 0 | 4 | 6;
}

/** The unspecified addresses: fine to bind, never a destination. */
export function isUnspecified(host: string): boolean {
  if (host === '0.0.0.0') return true;
  if (isIP(host) !== 6) return false;
  return /^[0:]+$/.test(host);
}

// RFC 1123 §2.1 host names: labels of letters, digits and hyphens.
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** True for a syntactically valid DNS host name (not an IP literal check). */
export function isHostname(s: string): boolean {
  return HOSTNAME.test(s);
}

/**
 * Parse 'host:port', '[v6]:port', or — when defaultPort is given — 'host' / '[v6]'.
 * A bare IPv6 literal without brackets is refused: '::1:5060' is itself a valid address,
 * so the port could not be told apart (the same reason RFC 3986 §3.2.2 brackets it).
 * The host is accepted if it is an IP literal or a host name; callers that need an IP
 * check `isIpLiteral(result.host)`. Throws AddrError.
 */
export function parseHostPort(s: string, defaultPort?: number): HostPort {
  if (typeof s !== 'string' || s.length === 0 || s.trim() !== s) {
    throw new AddrError(String(s), 'syntax', 'must be host:port');
  }
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new AddrError(s, 'syntax', 'has "[" without "]"');
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest.length > 0) {
      if (rest[0] !== ':') throw new AddrError(s, 'syntax', 'must be [ipv6]:port');
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) throw new AddrError(s, 'host', `"${host}" inside brackets is not an IPv6 address`);
  } else {
    const first = s.indexOf(':');
    if (first >= 0 && s.indexOf(':', first + 1) >= 0) {
      throw new AddrError(s, 'ipv6-brackets', 'IPv6 addresses must be written as [address]:port');
    }
    if (first >= 0) {
      host = s.slice(0, first);
      portText = s.slice(first + 1);
    } else {
      host = s;
    }
    if (host.length === 0) throw new AddrError(s, 'syntax', 'must be host:port (host is empty)');
    if (isIP(host) === 0 && !isHostname(host)) {
      throw new AddrError(s, 'host', `"${host}" is neither an IP address nor a host name`);
    }
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) throw new AddrError(s, 'syntax', 'must be host:port');
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText)) throw new AddrError(s, 'port', `port "${portText}" is not a number`);
    port = Number(portText);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new AddrError(s, 'port', `port ${port} is outside 1..65535`);
  }
  return { host: isIP(host) === 6 ? host.toLowerCase() : host, port };
}

/** The inverse of parseHostPort: brackets IPv6 hosts. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Same socket address: host names compared case-insensitively, IPv6 by value. */
export function sameHostPort(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && canonicalHost(a.host) === canonicalHost(b.host);
}

/**
 * One spelling per address, so '::1' and '0:0::1' compare equal: IPv6 is expanded to
 * eight zero-padded groups (an embedded IPv4 tail becomes two groups); others lowercased.
 */
export function canonicalHost(host: string): string {
  if (isIP(host) !== 6) return host.toLowerCase();
  let h = host.toLowerCase();
  const zone = h.indexOf('%');
  const zoneText = zone >= 0 ? h.slice(zone) : '';
  if (zone >= 0) h = h.slice(0, zone);
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4) {
    const n = v4.slice(1).map(Number);
    h = h.slice(0, v4.index) + ((n[0] << 8) | n[1]).toString(16) + ':' + ((n[2] << 8) | n[3]).toString(16);
  }
  const [head, tail] = h.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g.padStart(4, '0')).join(':') + zoneText;
}
