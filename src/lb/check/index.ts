/** DSR host checks (`sipfarm check`): gather facts, judge them, report. */
import type { FarmConfig } from '../../cli/config.js';
import { gatherHostFacts, type GatherOptions } from './linux.js';
import { evaluateHost, type CheckResult } from './rules.js';

export * from './facts.js';
export * from './rules.js';
export { gatherHostFacts, parseConfLines, parseIpAddr, parseRouteGet, HostFactsError, type GatherOptions } from './linux.js';
export { heartbeatsFrom } from './heartbeats.js';

/** Gather this host's facts (or a namespace's) and judge them for member `memberId`. */
export async function checkHost(cfg: FarmConfig, memberId: number, opts: GatherOptions = {}): Promise<CheckResult[]> {
  return evaluateHost(await gatherHostFacts(cfg, memberId, opts), cfg, memberId);
}
