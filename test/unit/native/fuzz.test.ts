/**
 * Runs the libFuzzer harnesses (test/fuzz/run.sh) for a small budget: the C scanner /
 * classifier and the envelope decoder on random bytes under ASan + UBSan. Skipped, with
 * the reason in its name, where clang with libFuzzer is missing; in CI (CI set) clang is
 * installed by scripts/install-deps.sh, so there a missing clang fails instead.
 * Longer runs: test/fuzz/run.sh 60.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const script = resolve(import.meta.dirname, '../../fuzz/run.sh');
const hasClang = spawnSync('sh', ['-c', 'command -v clang || command -v clang-14'], { stdio: 'ignore' }).status === 0;
const inCi = process.env.CI !== undefined;
const SECONDS = Number(process.env.SIPFARM_FUZZ_SECONDS ?? 2);

describe('native fuzz harnesses', () => {
  it.skipIf(!hasClang && !inCi)(`run clean for ${SECONDS}s each${hasClang ? '' : ' [SKIPPED: clang not installed]'}`, () => {
    const r = spawnSync('bash', [script, String(SECONDS)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) console.error(r.stdout, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/fuzz: scan/);
    expect(r.stdout).toMatch(/fuzz: envelope/);
  }, 150_000);
});
