/**
 * The `sipfarm` command.
 *
 *   sipfarm run --config FILE --member ID [--metrics HOST:PORT]
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, memberById, metricsAddressOf } from './config.js';
import { startAdminServer } from './http.js';
import { parseHostPort } from '../util/addr.js';
import { createLogger } from '../util/log.js';
import { FarmMember } from '../farm/member.js';
import { runDemo } from './demo.js';
import { runCheck } from './check.js';
import { runLbConfig } from './lb-config.js';
import { runLbHealth } from './lb-health.js';
import { runLab } from './lab.js';
import { runReplay } from './replay.js';

const USAGE = `usage: sipfarm <command> [options]

commands:
  run --config FILE --member ID [--metrics HOST:PORT]
        run one farm member; SIGUSR2 toggles draining, SIGTERM/SIGINT stop it
  demo [--seconds N] [--rate CPS] [--members N] [--one-host]
        a farm of N members (default 3) on this machine behind a random-spraying LB,
        with sipp calls through it for N seconds (default 10); needs sipp. As root: in a
        network-namespace lab behind the nftables DSR LB; otherwise (or --one-host) in
        one process on loopback
  check --config FILE --member ID [--netns NS] [--json]
        verify this host is ready to be a DSR member; prints the fix for each failure
  lb-config --config FILE --format nftables|alteon|f5|foundry|ipvs [--mode random|flow]
        the load balancer configuration for this farm
  lb-health --config FILE [--source ADDR] [--interval S] [--retries N]
        health checker of the nftables LB: probes each member, updates the live set
  lab up [--members N] [--mode random|flow] [--with-farm] | down [PREFIX] | status
        a network-namespace lab (client, LB, members; root) that stays until down
  replay --target HOST:PORT (--pcap FILE | --flow KIND) [--rate PPS] ...
        send SIP at a rate (from a capture or a call-flow generator); offered, answered,
        lost and latency percentiles (sipfarm replay --help for all options)
  help  this text
`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`sipfarm: ${msg}\n`);
  process.exit(code);
}

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, member: { type: 'string', short: 'm' }, metrics: { type: 'string' } },
    strict: true,
  });
  if (values.config === undefined) fail('run: --config FILE is required');
  if (values.member === undefined || !/^\d{1,3}$/.test(values.member)) fail('run: --member ID (0-254) is required');
  let cfg;
  try {
    cfg = loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  const id = Number(values.member);
  const self = memberById(cfg, id);
  if (self === undefined) fail(`run: member ${id} is not in ${values.config} (members: ${cfg.members.map((m) => m.id).join(', ')})`);
  const log = createLogger({ level: cfg.log.level, member: id, samplePerSecond: cfg.log.samplePerSecond });
  const member = new FarmMember({ config: cfg, memberId: id, log });
  await member.start();
  const metricsAt = values.metrics !== undefined ? parseHostPort(values.metrics) : metricsAddressOf(cfg, self);
  const admin = metricsAt
    ? await startAdminServer(metricsAt, {
        metrics: () => member.metrics(),
        status: () => member.status(),
        drain: (on) => member.setDraining(on),
      })
    : undefined;
  if (admin) log.info('admin listener', { address: `${admin.address.host}:${admin.address.port}` });

  process.on('SIGUSR2', () => member.setDraining(!member.isDraining()));
  // Last line of defence: a bug in one message's handling must not take every other
  // call of this member down with it. Counted and logged (sampled), never silent.
  let uncaught = 0;
  process.on('uncaughtException', (err) => {
    uncaught++;
    log.sampled('uncaught', 'error', 'uncaught exception (member kept running)', { err, count: uncaught });
  });
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal: sig });
    void (async () => {
      await admin?.close();
      await member.stop();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'run':
      await run(rest);
      break;
    case 'demo': {
      const { values } = parseArgs({ args: rest, options: { seconds: { type: 'string' }, rate: { type: 'string' }, members: { type: 'string' }, 'one-host': { type: 'boolean' } }, strict: true });
      const num = (v: string | undefined, d: number, min: number, max: number, name: string): number => {
        const n = v === undefined ? d : Number(v);
        if (!Number.isFinite(n) || n < min || n > max) fail(`demo: --${name} must be a number in ${min}..${max}`);
        return n;
      };
      process.exitCode = await runDemo({
        seconds: num(values.seconds, 10, 1, 600, 'seconds'),
        rate: num(values.rate, 50, 1, 2000, 'rate'),
        members: num(values.members, 3, 1, 16, 'members'),
        mode: values['one-host'] ? 'one-host' : 'auto',
      });
      break;
    }
    case 'check':
      process.exitCode = await runCheck(rest);
      break;
    case 'lb-config':
      process.exitCode = await runLbConfig(rest);
      break;
    case 'lb-health':
      process.exitCode = await runLbHealth(rest);
      break;
    case 'replay':
      process.exitCode = await runReplay(rest);
      break;
    case 'lab':
      process.exitCode = await runLab(rest);
      break;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      break;
    default:
      fail(`unknown command "${cmd}"\n${USAGE}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`sipfarm: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
