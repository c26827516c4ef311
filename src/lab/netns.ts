/**
 * Thin, promise-based wrappers around the `ip` and `nft` commands the lab drives.
 *
 * Everything that changes the network goes through `ip -n <ns>` / `ip netns exec <ns>`
 * so that it happens inside a namespace the lab created; the only root-namespace
 * operations are `ip netns add|del|list|pids` (which create and remove the namespaces
 * themselves and touch no root address, route or link).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions, type StdioOptions } from 'node:child_process';

export interface ExecResult {
  /** Exit status; -1 when the process was killed (timeout) or could not start. */
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill (SIGKILL) the command after this long. Default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface LabSpawnOptions {
  stdio?: StdioOptions;
  /** Own process group, not killed with ours (processes that outlive `sipfarm lab up`). */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export type LabErrorCode =
  | 'ERR_LAB_PRIVILEGE'
  | 'ERR_LAB_UNAVAILABLE'
  | 'ERR_LAB_OPTIONS'
  | 'ERR_LAB_EXISTS'
  | 'ERR_LAB_NOT_FOUND'
  | 'ERR_LAB_NAMESPACE'
  | 'ERR_LAB_COMMAND'
  | 'ERR_LAB_CONNECTIVITY'
  | 'ERR_LAB_DOWN';

export class LabError extends Error {
  constructor(
    readonly code: LabErrorCode,
    message: string,
    /** Output of the failing command, when there is one. */
    readonly result?: ExecResult,
  ) {
    super(message);
    this.name = 'LabError';
  }
}

// `ip`, `nft`, `sysctl` live in /usr/sbin or /sbin, which a non-login PATH may lack.
const SBIN_PATH = '/usr/local/sbin:/usr/sbin:/sbin';
export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const path = env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
  return { ...env, PATH: `${path}:${SBIN_PATH}` };
}

/** Runs a command to completion; never rejects (a failure is a non-zero code). */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { env: toolEnv(opts.env), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      resolve({ code: -1, stdout: '', stderr: String(err) });
      return;
    }
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    };
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? 30_000} ms]`;
      if (child.pid !== undefined) child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      stderr += String(err);
      finish(-1);
    });
    child.on('close', (code) => finish(code ?? -1));
    child.stdin?.on('error', () => {}); // the command may exit before reading its input
    child.stdin?.end(opts.input ?? '');
  });
}

/** Like run(), but throws LabError(ERR_LAB_COMMAND) on a non-zero exit. */
export async function must(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const input = opts.input ? `\n--- input ---\n${opts.input}` : '';
    throw new LabError('ERR_LAB_COMMAND', `${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}${input}`, r);
  }
  return r;
}

/** `ip netns exec <ns> cmd args…`: the command runs with the namespace's network stack. */
export function nsArgs(ns: string, cmd: string, args: readonly string[]): string[] {
  return ['netns', 'exec', ns, cmd, ...args];
}

export function nsRun(ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run('ip', nsArgs(ns, cmd, args), opts);
}

export function nsMust(ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return must('ip', nsArgs(ns, cmd, args), opts);
}

/**
 * Starts a long-running command in a namespace. `ip netns exec` execs the command in
 * place (no fork), so child.pid is the command's own PID.
 */
export function nsSpawn(ns: string, cmd: string, args: readonly string[], opts: LabSpawnOptions = {}): ChildProcess {
  const o: SpawnOptions = { env: toolEnv(opts.env), cwd: opts.cwd, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'], detached: opts.detached };
  return spawn('ip', nsArgs(ns, cmd, args), o);
}

/** Runs `ip [-n ns] -batch -` with one command per line: one process for many changes. */
export function ipBatch(ns: string | undefined, lines: readonly string[], force = false): Promise<ExecResult> {
  const args = [...(ns ? ['-n', ns] : []), ...(force ? ['-force'] : []), '-batch', '-'];
  return (force ? run : must)('ip', args, { input: lines.join('\n') + '\n' });
}

/** Names of all network namespaces known to `ip netns`. */
export async function listNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  if (r.code !== 0) return [];
  // Lines look like "name" or "name (id: 3)".
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((s) => s.length > 0);
}

/** PIDs of the processes whose network namespace is `ns`. */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** Synchronous namespace removal, for process-exit paths where nothing async runs. */
export function deleteNetnsSync(names: readonly string[]): void {
  if (names.length === 0) return;
  spawnSync('ip', ['-force', '-batch', '-'], {
    input: names.map((n) => `netns del ${n}`).join('\n') + '\n',
    env: toolEnv(),
    stdio: ['pipe', 'ignore', 'ignore'],
    timeout: 10_000,
  });
}

/** Synchronous `ip netns pids`, for the same exit paths. */
export function netnsPidsSync(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { env: toolEnv(), encoding: 'utf8', timeout: 5_000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') return [];
  return r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** True while a process with this PID exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
