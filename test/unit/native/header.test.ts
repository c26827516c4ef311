/**
 * One source of truth: native/src/constants.h is generated from the TS constants. This
 * regenerates it in memory from the TS sources and fails when the committed copy
 * differs (fix: npm run build && node scripts/gen-native-header.mjs), and checks that the
 * built addon reports the values the loader expects.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as scanner from '../../../src/sip/scanner.js';
import * as uri from '../../../src/sip/uri.js';
import * as outcomes from '../../../src/fastpath/outcomes.js';
import * as classifier from '../../../src/fastpath/classifier.js';
import * as ring from '../../../src/farm/ring.js';
import * as hash from '../../../src/farm/hash.js';
import * as tokens from '../../../src/farm/tokens.js';
import * as envelope from '../../../src/farm/envelope.js';
import * as replay from '../../../src/farm/replay.js';
import * as native from '../../../src/fastpath/native.js';
// @ts-expect-error -- plain .mjs script, no declarations
import { renderConstantsHeader, HEADER_PATH } from '../../../scripts/gen-native-header.mjs';
import { HAVE_NATIVE, SKIP_REASON } from './helpers.js';

describe('native/src/constants.h', () => {
  it('matches the TS constants (regenerate: npm run build && node scripts/gen-native-header.mjs)', () => {
    const want = (renderConstantsHeader as (m: object) => string)({ scanner, uri, outcomes, classifier, ring, hash, tokens, envelope, replay, native });
    const have = readFileSync(HEADER_PATH as string, 'utf8');
    expect(have).toBe(want);
  });

  it('holds the values the C code relies on', () => {
    const h = readFileSync(resolve(import.meta.dirname, '../../../native/src/constants.h'), 'utf8');
    expect(h).toContain(`#define SF_RING_EMPTY ${ring.RING_EMPTY}`);
    expect(h).toContain(`#define SF_ENV_HEADER_SIZE ${envelope.ENVELOPE_HEADER_SIZE}`);
    expect(h).toContain(`#define SF_OUTCOME_COUNT ${outcomes.OUTCOME_NAMES.length}`);
    expect(h).toContain(`#define SF_BRANCH_PREFIX "${tokens.BRANCH_PREFIX}"`);
  });
});

describe.skipIf(!HAVE_NATIVE)(`the built addon${SKIP_REASON}`, () => {
  it('reports the ABI and layout the loader checks', () => {
    const a = native.loadNative();
    expect(a.abiVersion()).toBe(native.NATIVE_ABI_VERSION);
    const c = a.constants();
    expect(c.outcomeCount).toBe(outcomes.OUTCOME_NAMES.length);
    expect(c.dropCount).toBe(outcomes.DROP_NAMES.length);
    expect(c.envelopeRejectCount).toBe(envelope.ENVELOPE_REJECT_NAMES.length);
    expect(c.metaStride).toBe(native.NativeMeta.STRIDE);
    expect(c.scanFields).toBe(Object.keys(new scanner.ScanResult()).length);
  });

  it('SIPFARM_NATIVE=0 forces the TS fallback; SIPFARM_NATIVE=1 with a missing addon is an error', () => {
    const saved = { mode: process.env.SIPFARM_NATIVE, path: process.env.SIPFARM_NATIVE_PATH };
    try {
      process.env.SIPFARM_NATIVE = '0';
      native.resetNativeForTests();
      expect(native.nativeAvailable()).toBe(false);
      expect(native.nativeUnavailableReason()?.code).toBe('NATIVE_DISABLED');
      expect(native.nativeOrNull()).toBeNull();

      process.env.SIPFARM_NATIVE = '1';
      process.env.SIPFARM_NATIVE_PATH = '/nonexistent/sipfarm.node';
      native.resetNativeForTests();
      expect(native.nativeAvailable()).toBe(false);
      expect(() => native.nativeOrNull()).toThrowError(expect.objectContaining({ code: 'NATIVE_MISSING' }));
      expect(() => native.loadNative()).toThrowError(native.NativeError);
    } finally {
      if (saved.mode === undefined) delete process.env.SIPFARM_NATIVE; else process.env.SIPFARM_NATIVE = saved.mode;
      if (saved.path === undefined) delete process.env.SIPFARM_NATIVE_PATH; else process.env.SIPFARM_NATIVE_PATH = saved.path;
      native.resetNativeForTests();
    }
    expect(native.nativeAvailable()).toBe(true);
  });
});
