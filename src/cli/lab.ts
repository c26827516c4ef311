/**
 * `sipfarm lab up|down|status`: the network-namespace lab (src/lab) from the command
 * line — client, callee, the nftables DSR LB and N members on one bridge, documentation
 * addresses only, the root namespace untouched.
 *
 *   up [--members N] [--mode random|flow] [--prefix P] [--with-farm]
 *       builds a lab that stays until `down`; --with-farm also starts `sipfarm run` in
 *       every member namespace and `sipfarm lb-health` in the LB's, detached, their PIDs
 *       recorded in /run/sipfarm-lab/<prefix>/state.json (logs beside it).
 *   down [PREFIX]   stops exactly the recorded processes, then removes the lab
 *                   (PREFIX may be omitted when there is one lab)
 *   status [PREFIX] namespaces, LB mode and live set, farm processes
 *
 * A failure or Ctrl-C while `up` runs removes everything it created.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, LabError } from '../lab/lab.js';
import { destroyLab } from '../lab/lab.js';
import { isAlive } from '../lab/netns.js';
import { LAB_DEFAULT_MEMBERS, LAB_MAX_MEMBERS } from '../lab/topology.js';
import { startLabHealth, startLabMember, waitLabFarm, writeLabFarmConfig } from '../lab/farm.js';
import type { CliOutput } from './args.js';

const USAGE = `usage: sipfarm lab up [--members N] [--mode random|flow] [--prefix P] [--with-farm]
       sipfarm lab down [PREFIX]
       sipfarm lab status [PREFIX]
`;

/** Where `lab up` records what it started (tmpfs: gone after a reboot, like the namespaces). */
export const LAB_STATE_ROOT = process.env.SIPFARM_LAB_STATE_DIR ?? '/run/sipfarm-lab';

export interface LabState {
  prefix: string;
  members: number;
  mode: 'random' | 'flow';
  /** The farm config (with --with-farm). */
  config?: string;
  /** PIDs of the processes `up` started: member id → pid, and the health checker. */
  pids: { members: Record<string, number>; health?: number };
  startedAt: string;
}

export function labStateDir(prefix: string): string {
  return join(LAB_STATE_ROOT, prefix.replace(/-+$/, ''));
}

export function readLabState(prefix: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(labStateDir(prefix), 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

/** The PID still runs sipfarm (not a reused PID of some other program). */
function isOurs(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sipfarm');
  } catch {
    return false;
  }
}

function recordedPids(st: LabState | undefined): number[] {
  if (!st) return [];
  return [...Object.values(st.pids.members), ...(st.pids.health !== undefined ? [st.pids.health] : [])];
}

/** SIGTERM the recorded processes, SIGKILL what is left after 3 s. Only PIDs that still run sipfarm. */
async function stopRecorded(st: LabState | undefined): Promise<number> {
  const pids = recordedPids(st).filter((p) => isAlive(p) && isOurs(p));
  for (const p of pids) process.kill(p, 'SIGTERM');
  const deadline = Date.now() + 3_000;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of pids) {
    if (isAlive(p)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  return pids.length;
}

export async function runLab(argv: string[], out: CliOutput = process.stdout, err: CliOutput = process.stderr): Promise<number> {
  const [sub, ...rest] = argv;
  const usage = (msg: string): number => {
    err.write(`sipfarm lab: ${msg}\n${USAGE}`);
    return 2;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: {
        members: { type: 'string' },
        mode: { type: 'string' },
        prefix: { type: 'string' },
        'with-farm': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return usage((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || sub === 'help' || sub === '--help' || sub === '-h') {
    out.write(USAGE);
    return 0;
  }
  try {
    switch (sub) {
      case 'up': {
        if (positionals.length > 0) return usage(`unexpected '${positionals[0]}'`);
        const members = values.members === undefined ? LAB_DEFAULT_MEMBERS : Number(values.members);
        if (!Number.isInteger(members) || members < 1 || members > LAB_MAX_MEMBERS) return usage(`--members must be 1..${LAB_MAX_MEMBERS}`);
        if (values.mode !== undefined && values.mode !== 'random' && values.mode !== 'flow') return usage('--mode must be random or flow');
        return await up(out, { members, mode: values.mode ?? 'random', prefix: values.prefix, withFarm: values['with-farm'] ?? false });
      }
      case 'down':
      case 'status': {
        if (positionals.length > 1) return usage(`unexpected '${positionals[1]}'`);
        if (values.members !== undefined || values.mode !== undefined || values['with-farm']) return usage(`${sub} takes only a PREFIX`);
        const prefix = positionals[0] ?? values.prefix;
        return sub === 'down' ? await down(out, err, prefix) : await status(out, prefix);
      }
      case undefined:
        return usage('a subcommand is required');
      default:
        return usage(`unknown subcommand '${sub}'`);
    }
  } catch (e) {
    if (e instanceof LabError) {
      err.write(`sipfarm lab: ${e.message}\n`);
      return e.code === 'ERR_LAB_OPTIONS' || e.code === 'ERR_LAB_NOT_FOUND' ? 2 : 1;
    }
    throw e;
  }
}

async function up(out: CliOutput, o: { members: number; mode: 'random' | 'flow'; prefix?: string; withFarm: boolean }): Promise<number> {
  // Exit cleanup stays on while the lab is being built and the farm started: a failure
  // or Ctrl-C removes it all. persist() hands the lab over to `lab down` at the end.
  const lab = await Lab.up({ members: o.members, lbMode: o.mode, prefix: o.prefix, cleanupOnExit: true });
  const dir = labStateDir(lab.prefix);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const state: LabState = { prefix: lab.prefix, members: o.members, mode: o.mode, pids: { members: {} }, startedAt: new Date().toISOString() };
    if (o.withFarm) {
      const config = writeLabFarmConfig(lab, { dir });
      state.config = config;
      for (const id of lab.memberIds) {
        const c = startLabMember(lab, id, config, { logFile: join(dir, `m${id}.log`) });
        if (c.pid === undefined) throw new LabError('ERR_LAB_COMMAND', `member ${id} did not start`);
        state.pids.members[String(id)] = c.pid;
      }
      // Written before waiting, so that `lab down` finds the PIDs even if we are killed now.
      writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
      await waitLabFarm(lab, lab.memberIds, 20_000);
      const h = startLabHealth(lab, config, { logFile: join(dir, 'lb-health.log') });
      if (h.pid === undefined) throw new LabError('ERR_LAB_COMMAND', 'lb-health did not start');
      state.pids.health = h.pid;
    }
    writeFileSync(join(dir, 'state.json'), JSON.stringify(state, null, 2) + '\n');
    lab.persist();
  } catch (e) {
    await lab.down().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const w = (s: string): void => void out.write(`${s}\n`);
  w(`lab ${lab.prefix} is up: ${o.members} member(s), LB mode ${o.mode}`);
  w(`  client  ${lab.ns.client.padEnd(16)} ${lab.addresses.client}`);
  w(`  callee  ${lab.ns.callee.padEnd(16)} ${lab.addresses.callee}`);
  w(`  lb      ${lab.ns.lb.padEnd(16)} ${lab.addresses.lbClientSide}, ${lab.addresses.lbFarmSide}   VIP ${lab.vip}:${lab.sipPort}`);
  for (const id of lab.memberIds) w(`  m${id}${' '.repeat(Math.max(1, 6 - String(id).length))}${lab.memberNs(id).padEnd(16)} ${lab.memberAddress(id)}`);
  w(`  switch  ${lab.ns.switch}`);
  if (o.withFarm) {
    const st = readLabState(lab.prefix);
    w(`farm: sipfarm run in every member namespace, lb-health in ${lab.ns.lb}; config and logs in ${dir}`);
    w(`  pids: ${Object.entries(st?.pids.members ?? {}).map(([id, p]) => `m${id}=${p}`).join(' ')} lb-health=${st?.pids.health}`);
  }
  w(`exec into a namespace:  ip netns exec ${lab.ns.client} bash`);
  w(`the LB's ruleset:       ip netns exec ${lab.ns.lb} nft list ruleset`);
  w(`remove it:              sipfarm lab down ${lab.prefix}`);
  return 0;
}

async function pickPrefix(prefix: string | undefined): Promise<string> {
  if (prefix !== undefined) return prefix;
  const labs = await Lab.list();
  if (labs.length === 1) return labs[0];
  if (labs.length === 0) throw new LabError('ERR_LAB_NOT_FOUND', 'no lab is running');
  throw new LabError('ERR_LAB_OPTIONS', `several labs are running (${labs.join(', ')}): name one`);
}

async function down(out: CliOutput, err: CliOutput, prefixArg: string | undefined): Promise<number> {
  const prefix = await pickPrefix(prefixArg);
  const st = readLabState(prefix);
  const stopped = await stopRecorded(st);
  let lab: Lab | undefined;
  try {
    lab = await Lab.attach(prefix);
  } catch (e) {
    if (!(e instanceof LabError) || e.code !== 'ERR_LAB_NOT_FOUND') throw e;
    // A half-removed lab (no switch, no LB namespace): remove what is left by name.
    if (st === undefined) throw e;
    await destroyLab(prefix);
    err.write(`sipfarm lab: lab ${prefix} was incomplete; removed what was left\n`);
  }
  await lab?.down();
  rmSync(labStateDir(prefix), { recursive: true, force: true });
  out.write(`lab ${prefix} is down${stopped > 0 ? ` (stopped ${stopped} farm process(es))` : ''}\n`);
  return 0;
}

async function status(out: CliOutput, prefixArg: string | undefined): Promise<number> {
  const prefixes = prefixArg !== undefined ? [prefixArg] : await Lab.list();
  if (prefixes.length === 0) {
    out.write('no lab is running\n');
    return 0;
  }
  let bad = 0;
  for (const prefix of prefixes) {
    const lab = await Lab.attach(prefix);
    const s = await lab.status();
    const st = readLabState(prefix);
    out.write(`lab ${prefix}: ${s.missing.length === 0 ? 'complete' : `MISSING ${s.missing.join(', ')}`}\n`);
    out.write(`  namespaces: ${s.present.join(' ')}\n`);
    out.write(`  LB: mode ${s.lbMode}, live members ${s.lbMembers.join(',') || 'none'} (VIP ${lab.vip}:${lab.sipPort})\n`);
    if (st && recordedPids(st).length > 0) {
      const show = (name: string, pid: number): string => `${name}=${pid}${isAlive(pid) && isOurs(pid) ? '' : '(gone)'}`;
      out.write(`  farm: ${[...Object.entries(st.pids.members).map(([id, p]) => show(`m${id}`, p)), ...(st.pids.health !== undefined ? [show('lb-health', st.pids.health)] : [])].join(' ')}\n`);
      out.write(`  config and logs: ${labStateDir(prefix)}\n`);
    }
    if (s.missing.length > 0) bad++;
  }
  return bad === 0 ? 0 : 1;
}

/** For tests: whether a state file exists. */
export function hasLabState(prefix: string): boolean {
  return existsSync(join(labStateDir(prefix), 'state.json'));
}
