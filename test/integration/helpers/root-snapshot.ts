/**
 * A snapshot of the root network namespace's state — the lab must leave it exactly
 * as it found it.
 */
import { execFileSync } from 'node:child_process';

function out(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  } catch (err) {
    return `<${cmd} ${args.join(' ')} failed: ${String(err)}>`;
  }
}

/** `ip -o addr`, `ip -o link`, `ip route`, `nft list ruleset` of the root namespace. */
export function rootSnapshot(): string {
  return [
    '## ip -o addr', out('ip', ['-o', 'addr']),
    '## ip -o link', out('ip', ['-o', 'link']),
    '## ip route', out('ip', ['route']),
    '## ip -6 route', out('ip', ['-6', 'route']),
    '## nft list ruleset', out('nft', ['list', 'ruleset']),
  ].join('\n');
}

/** Network namespaces whose name starts with `prefix`. */
export function netnsWithPrefix(prefix: string): string[] {
  return out('ip', ['netns', 'list']).split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n.length > 0 && n.startsWith(prefix));
}
