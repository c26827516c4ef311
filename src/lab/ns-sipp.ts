/**
 * sipp inside a lab namespace, bounded in time (sipp's -timeout, then SIGKILL 5 s
 * later), with the same result reading as src/lab/sipp.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from './lab.js';
import { failedCallIds, readStats } from './sipp.js';

export interface NsSippResult {
  code: number | null;
  successful: number;
  failed: number;
  failedCallIds: Set<string>;
  stderr: string;
  dir: string;
}

/** Starts `sipp args…` in `ns`; `dir` holds its stat CSV (readStats(dir) reads progress). */
export function runNsSipp(lab: Lab, ns: string, args: string[], timeoutS: number): { child: ChildProcess; dir: string; done: Promise<NsSippResult> } {
  const dir = mkdtempSync(join(tmpdir(), 'sipfarm-sipp-'));
  const child = lab.spawn(ns, 'sipp', [
    ...args, '-nostdin', '-timeout', `${timeoutS}s`, '-timeout_error', '-trace_stat', '-stf', join(dir, 'stat.csv'),
    '-trace_err', '-error_file', join(dir, 'err.log'), '-trace_calldebug', '-calldebug_file', join(dir, 'calldebug.log'), '-fd', '1',
  ], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
  const kill = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, (timeoutS + 5) * 1000);
  const done = new Promise<NsSippResult>((res) => {
    child.once('close', (code) => {
      clearTimeout(kill);
      res({ code, ...readStats(dir), failedCallIds: failedCallIds(dir), stderr, dir });
    });
  });
  return { child, dir, done };
}
