/**
 * Runs sipp inside a lab namespace, always bounded in time, and reads its outcome:
 * exit code, successful/failed call counts (from -trace_stat) and the Call-IDs of the
 * calls it aborted (from -trace_calldebug).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Lab } from '../../../src/lab/lab.js';

/** test/integration/sipp */
export const SCENARIO_DIR = resolve(import.meta.dirname, '../sipp');

export function scenario(name: string): string {
  return join(SCENARIO_DIR, name);
}

export interface SippOptions {
  /** Scenario file name in test/integration/sipp (or an absolute path). */
  scenario: string;
  /** Local address to bind (-i) and port (-p). */
  ip: string;
  port: number;
  /** Remote host:port; omit for a UAS (server mode). */
  remote?: string;
  /** -s: the user part of the Request-URI (client) / our Contact (server). */
  service?: string;
  /** -m: sipp stops after this many calls. */
  calls: number;
  /** -r: calls per second (client). */
  rate?: number;
  /** -d: call duration in ms for <pause/>. */
  durationMs?: number;
  /** Global bound: sipp stops (with an error) after this long; the child is SIGKILLed 5 s later. */
  timeoutS: number;
  /** -recv_timeout: a call fails when an expected message is this late. */
  recvTimeoutMs?: number;
  extra?: string[];
}

export interface SippResult {
  /** Exit code: 0 = every call succeeded; null when killed. */
  code: number | null;
  signal: NodeJS.Signals | null;
  successful: number;
  failed: number;
  /** Retransmissions sipp sent (its own timers, or answering a peer's retransmission). */
  retransmissions: number;
  /** Call-IDs of the calls sipp aborted. */
  failedCallIds: string[];
  /** Directory with stat.csv, err.log, calldebug.log. */
  dir: string;
  stderr: string;
  /** The first lines of sipp's error log, for assertion messages. */
  errorSample: string;
}

export interface SippRun {
  child: ChildProcess;
  done: Promise<SippResult>;
}

/** Starts sipp in `ns`; `done` resolves when it exits (it always does). */
export function runSipp(lab: Lab, ns: string, o: SippOptions): SippRun {
  const dir = mkdtempSync(join(tmpdir(), 'sipfarm-sipp-'));
  const sf = o.scenario.startsWith('/') ? o.scenario : scenario(o.scenario);
  const args = [
    '-sf', sf,
    '-i', o.ip, '-p', String(o.port),
    '-m', String(o.calls),
    ...(o.service !== undefined ? ['-s', o.service] : []),
    ...(o.rate !== undefined ? ['-r', String(o.rate)] : []),
    ...(o.durationMs !== undefined ? ['-d', String(o.durationMs)] : []),
    ...(o.recvTimeoutMs !== undefined ? ['-recv_timeout', String(o.recvTimeoutMs)] : []),
    '-nostdin',
    '-timeout', `${o.timeoutS}s`, '-timeout_error',
    '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1',
    '-trace_err', '-error_file', join(dir, 'err.log'),
    '-trace_calldebug', '-calldebug_file', join(dir, 'calldebug.log'),
    ...(o.extra ?? []),
    ...(o.remote !== undefined ? [o.remote] : []),
  ];
  // sipp paints its screen on stdout continuously: discard it.
  const child = lab.spawn(ns, 'sipp', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
  const killTimer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  }, (o.timeoutS + 5) * 1000);
  const done = new Promise<SippResult>((res) => {
    child.once('close', (code, signal) => {
      clearTimeout(killTimer);
      const stats = readStats(join(dir, 'stat.csv'));
      res({
        code,
        signal,
        ...stats,
        failedCallIds: readFailedCallIds(join(dir, 'calldebug.log')),
        dir,
        stderr,
        errorSample: readHead(join(dir, 'err.log'), 1500),
      });
    });
  });
  return { child, done };
}

function readHead(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').slice(0, n);
  } catch {
    return '';
  }
}

/** Cumulative SuccessfulCall(C) / FailedCall(C) / Retransmissions(C) from the last line of sipp's stat CSV. */
export function readStats(file: string): { successful: number; failed: number; retransmissions: number } {
  if (!existsSync(file)) return { successful: 0, failed: 0, retransmissions: 0 };
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  if (lines.length < 2) return { successful: 0, failed: 0, retransmissions: 0 };
  const head = lines[0].split(';');
  const last = lines[lines.length - 1].split(';');
  const col = (name: string): number => {
    const i = head.indexOf(name);
    return i < 0 ? 0 : Number(last[i]) || 0;
  };
  return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)'), retransmissions: col('Retransmissions(C)') };
}

/** Call-IDs named in sipp's call-debug dump (it records aborted calls only). */
export function readFailedCallIds(file: string): string[] {
  if (!existsSync(file)) return [];
  const ids = new Set<string>();
  for (const m of readFileSync(file, 'utf8').matchAll(/^Call debugging information for call (\S+?):?$/gm)) ids.add(m[1]);
  return [...ids];
}

/** Files sipp left in a result directory (for debugging output). */
export function sippFiles(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
