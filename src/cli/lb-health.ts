/**
 * `sipfarm lb-health --config FILE [options]`: the health checker of the nftables DSR
 * load balancer. Runs on the LB (next to the table `sipfarm lb-config --format
 * nftables` loaded), probes every member's own address with SIP OPTIONS and keeps the
 * table's slot map equal to the members that answer 200. Runs until SIGTERM/SIGINT.
 * Prints one line per state change. Exit 2 on a usage/config error.
 */
import { ConfigError, loadConfig } from './config.js';
import { lbTarget, LbConfigError } from '../lb/index.js';
import { HealthChecker, SipOptionsProber, nftApplier, type HealthTarget } from '../lb/health.js';
import { DEFAULT_DSR_TABLE } from '../lb/nftables.js';
import { parseCommand, parseMemberMacs, type CliOutput } from './args.js';

const USAGE = `usage: sipfarm lb-health --config FILE [options]
  --source ADDR        the LB's address the probes leave from (default: lbProbeSources[0])
  --member-mac ID=MAC  a member's MAC (repeat; default: members[].mac in the config)
  --table NAME         the nftables netdev table (default ${DEFAULT_DSR_TABLE})
  --interval S         seconds between probe rounds (default lb.health.intervalS, else 5)
  --retries N          missed probes before a member is down (default lb.health.retries, else 3)
  --timeout-ms MS      how long one probe waits for its answer (default min(1000, interval))
  --dry-run            probe and report, never change the table
`;

export async function runLbHealth(argv: string[], out: CliOutput = process.stdout, err: CliOutput = process.stderr): Promise<number> {
  const parsed = parseCommand('lb-health', argv, {
    config: { type: 'string', short: 'c' },
    source: { type: 'string' },
    'member-mac': { type: 'string', multiple: true },
    table: { type: 'string' },
    interval: { type: 'string' },
    retries: { type: 'string' },
    'timeout-ms': { type: 'string' },
    'dry-run': { type: 'boolean' },
  }, USAGE, out, err);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const usage = parsed.usage;
  if (values.config === undefined) return usage('--config FILE is required');
  const memberMacs = parseMemberMacs(values['member-mac']);
  if (typeof memberMacs === 'string') return usage(memberMacs);
  const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : NaN);
  let cfg;
  let target;
  try {
    cfg = loadConfig(values.config);
    target = lbTarget(cfg, { memberMacs, health: { intervalS: int(values.interval), retries: int(values.retries) } });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof LbConfigError) {
      err.write(`sipfarm lb-health: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const missing = target.members.filter((m) => m.mac === undefined).map((m) => m.id);
  if (missing.length > 0) return usage(`the MAC of members ${missing.join(', ')} is unknown (members[].mac or --member-mac)`);
  const source = values.source ?? target.probeSources[0];
  if (source === undefined) return usage('--source is required when the config has no lbProbeSources');
  if (!cfg.lbProbeSources.includes(source)) {
    err.write(`sipfarm lb-health: warning: ${source} is not in lbProbeSources; probes stay local only by their form (user-less URI, Max-Forwards 0)\n`);
  }
  const intervalMs = target.health.intervalS * 1000;
  const timeoutMs = int(values['timeout-ms']) ?? Math.min(1000, intervalMs);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) return usage('--timeout-ms must be a positive integer');

  const members: HealthTarget[] = target.members.map((m) => ({ id: m.id, address: m.address, port: m.probePort, mac: m.mac as string }));
  let prober: SipOptionsProber;
  try {
    prober = await SipOptionsProber.open({ source, vip: target.vip, timeoutMs });
  } catch (e) {
    err.write(`sipfarm lb-health: ${(e as Error).message}\n`);
    return 1;
  }
  const line = (s: string): void => void out.write(`${new Date().toISOString()} ${s}\n`);
  const apply = values['dry-run'] ? async (): Promise<void> => {} : nftApplier({ table: values.table });
  const checker = new HealthChecker({
    members,
    intervalMs,
    retries: target.health.retries,
    probe: (m) => prober.probe(m),
    apply: async (live) => {
      await apply(live);
      line(`live: ${live.map((m) => m.id).join(',') || 'none'}${values['dry-run'] ? ' (dry run)' : ''}`);
    },
    onEvent: (e) => line(`member ${e.id} ${e.from} -> ${e.to}: ${e.reason}`),
    onApplyError: (e) => line(`could not update the LB (retrying next round): ${(e as Error).message}`),
  });
  line(`probing ${members.map((m) => `${m.id}@${m.address}:${m.port}`).join(' ')} from ${prober.local.address}:${prober.local.port} every ${target.health.intervalS}s, ${target.health.retries} misses = down`);
  checker.start();
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await checker.stop();
  await prober.close();
  return 0;
}
