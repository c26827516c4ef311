/** Runs sipp on loopback with bounded time, and reads its outcome. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** sipp scenarios shipped with the repository (same path from src/lab and dist/lab). */
export const SCENARIOS = resolve(import.meta.dirname, '../../test/integration/sipp');

export interface SippResult {
  code: number | null;
  /** Call-IDs of the calls sipp aborted (from its call-debug dump). */
  failedCallIds: Set<string>;
  successful: number;
  failed: number;
  stdout: string;
  stderr: string;
  dir: string;
}

/** Starts sipp; resolve() gives its result when it exits (it always does: -timeout). */
export function sipp(args: string[], opts: { timeoutS?: number } = {}): { child: ChildProcess; done: Promise<SippResult>; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sipfarm-sipp-'));
  const timeout = opts.timeoutS ?? 60;
  const child = spawn('sipp', [
    ...args, '-nostdin', '-timeout', `${timeout}s`, '-timeout_error', '-trace_stat', '-stf', join(dir, 'stat.csv'),
    '-trace_err', '-error_file', join(dir, 'err.log'), '-trace_calldebug', '-calldebug_file', join(dir, 'calldebug.log'), '-fd', '1',
  ], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-20000)));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20000)));
  const done = new Promise<SippResult>((res) => {
    child.on('exit', (code) => {
      const { successful, failed } = readStats(dir);
      res({ code, successful, failed, stdout, stderr, dir, failedCallIds: failedCallIds(dir) });
    });
  });
  return { child, done, dir };
}

/** Total successful/failed calls from the last line of sipp's -trace_stat CSV. */
export function readStats(dir: string): { successful: number; failed: number } {
  try {
    const file = readdirSync(dir).find((f) => f.endsWith('.csv'));
    if (!file) return { successful: 0, failed: 0 };
    const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
    const head = lines[0].split(';');
    const last = lines[lines.length - 1].split(';');
    const col = (name: string): number => Number(last[head.indexOf(name)] ?? 0);
    return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)') };
  } catch {
    return { successful: 0, failed: 0 };
  }
}

/** Call-IDs found in sipp's dump of aborted calls. */
export function failedCallIds(dir: string): Set<string> {
  const ids = new Set<string>();
  try {
    const text = readFileSync(join(dir, 'calldebug.log'), 'utf8');
    for (const m of text.matchAll(/^(?:Call-ID|i)\s*:\s*(\S+)/gim)) ids.add(m[1]);
  } catch {
    /* no aborted call, no file */
  }
  return ids;
}

/** True when a sipp binary can be run. */
export function haveSipp(): boolean {
  try {
    execFileSync('sipp', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // sipp -v exits non-zero; only a missing binary is "no sipp".
    return (err as { code?: string }).code !== 'ENOENT';
  }
}

/** A UDP port on `host` that was free a moment ago (for sipp's -p). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
