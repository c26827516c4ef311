/**
 * `sipfarm lb-config --config FILE --format nftables|alteon|f5|foundry|ipvs [options]`
 *
 * Prints the load-balancer configuration for the farm on stdout (or --output FILE);
 * warnings go to stderr as well as into the text. Exit 0, or 2 on a usage/config error.
 */
import { writeFileSync } from 'node:fs';
import { ConfigError, loadConfig } from './config.js';
import { generateLbConfig, LB_FORMATS, LbConfigError, type LbFormat, type LbMode } from '../lb/index.js';
import { parseCommand, parseMemberMacs, type CliOutput } from './args.js';

const USAGE = `usage: sipfarm lb-config --config FILE --format ${LB_FORMATS.join('|')} [options]
  --mode random|flow        random (default): each datagram to any member; flow: per client address:port
  --member-mac ID=MAC       a member's MAC on the LB segment (repeat per member; nftables needs all)
  --iface IF --lb-mac MAC   nftables: the LB's interface facing the members and its MAC
  --name NAME               prefix of the objects created (default sipfarm)
  --health-interval S       seconds between health checks (default 5)
  --health-retries N        misses before a member is down (default 3)
  --output FILE             write there instead of stdout
`;

export async function runLbConfig(argv: string[], out: CliOutput = process.stdout, err: CliOutput = process.stderr): Promise<number> {
  const parsed = parseCommand('lb-config', argv, {
    config: { type: 'string', short: 'c' },
    format: { type: 'string', short: 'f' },
    mode: { type: 'string' },
    'member-mac': { type: 'string', multiple: true },
    iface: { type: 'string' },
    'lb-mac': { type: 'string' },
    name: { type: 'string' },
    'health-interval': { type: 'string' },
    'health-retries': { type: 'string' },
    output: { type: 'string', short: 'o' },
  }, USAGE, out, err);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const usage = parsed.usage;
  if (values.config === undefined) return usage('--config FILE is required');
  if (values.format === undefined || !(LB_FORMATS as readonly string[]).includes(values.format)) {
    return usage(`--format must be one of ${LB_FORMATS.join(', ')}`);
  }
  if (values.mode !== undefined && values.mode !== 'random' && values.mode !== 'flow') return usage('--mode must be random or flow');
  const memberMacs = parseMemberMacs(values['member-mac']);
  if (typeof memberMacs === 'string') return usage(memberMacs);
  const int = (v: string | undefined): number | undefined => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : NaN);
  let cfg;
  try {
    cfg = loadConfig(values.config);
  } catch (e) {
    if (e instanceof ConfigError) {
      err.write(`sipfarm lb-config: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  let res;
  try {
    res = generateLbConfig(cfg, values.format as LbFormat, {
      mode: values.mode as LbMode | undefined,
      memberMacs,
      iface: values.iface,
      lbMac: values['lb-mac'],
      name: values.name,
      health: { intervalS: int(values['health-interval']), retries: int(values['health-retries']) },
    });
  } catch (e) {
    if (e instanceof LbConfigError) {
      err.write(`sipfarm lb-config: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  for (const w of res.warnings) err.write(`sipfarm lb-config: warning: ${w}\n`);
  if (values.output !== undefined) writeFileSync(values.output, res.text, { mode: values.format === 'ipvs' ? 0o755 : 0o644 });
  else out.write(res.text);
  return 0;
}
