/**
 * `sipfarm check --config FILE --member ID [--netns NAME] [--json] [--heartbeat-wait MS]`
 *
 * Is this host ready to be DSR member ID? Prints one line per check and, under each
 * failure, the command that fixes it. Exit 0 when no check failed (warnings allowed),
 * 1 when one did, 2 for a usage or config error.
 */
import { parseCommand, type CliOutput } from './args.js';
import { ConfigError, loadConfig } from './config.js';
import { checkHost, exitCodeOf, formatReport, HostFactsError } from '../lb/check/index.js';

const USAGE = `usage: sipfarm check --config FILE --member ID [--netns NAME] [--json] [--heartbeat-wait MS]
  checks: VIP /32 on lo and nowhere else; arp_ignore/arp_announce/rp_filter in force on
  every ARP interface; VIP:port bindable and used as source; this member's farm address
  local and bindable; a route to every peer (and their heartbeats, when the farm port is
  free); the clock. --netns runs the checks inside that network namespace.
`;

export async function runCheck(argv: string[], out: CliOutput = process.stdout, err: CliOutput = process.stderr): Promise<number> {
  const parsed = parseCommand('check', argv, {
    config: { type: 'string', short: 'c' },
    member: { type: 'string', short: 'm' },
    netns: { type: 'string' },
    json: { type: 'boolean' },
    'heartbeat-wait': { type: 'string' },
  }, USAGE, out, err);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (values.config === undefined || values.member === undefined || !/^\d{1,3}$/.test(values.member)) {
    err.write(`sipfarm check: --config FILE and --member ID (0-254) are required\n${USAGE}`);
    return 2;
  }
  const wait = values['heartbeat-wait'] === undefined ? 2000 : Number(values['heartbeat-wait']);
  if (!Number.isInteger(wait) || wait < 0 || wait > 60_000) {
    err.write('sipfarm check: --heartbeat-wait must be 0..60000 (milliseconds)\n');
    return 2;
  }
  if (values.netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(values.netns)) {
    err.write(`sipfarm check: --netns '${values.netns}' is not a namespace name\n`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`sipfarm check: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  let results;
  try {
    results = await checkHost(cfg, Number(values.member), { netns: values.netns, heartbeatWaitMs: wait });
  } catch (e) {
    if (e instanceof HostFactsError) {
      err.write(`sipfarm check: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  out.write(values.json ? JSON.stringify({ ok: exitCodeOf(results) === 0, results }, null, 2) + '\n' : formatReport(results));
  return exitCodeOf(results);
}
