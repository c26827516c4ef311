/**
 * `sipfarm replay`: send SIP at a target rate to a target address from many source
 * ports, and report offered / answered / lost requests and request → response latency.
 *
 *   sipfarm replay --target HOST:PORT (--pcap FILE [--unique] [--repeat N] [--map OLD=NEW]...
 *                                      | --flow options|register|message|invite)
 *                  [--rate N] [--count N] [--seconds S] [--sources N] [--bind HOST]
 *                  [--drain MS] [--user U] [--domain D] [--hold MS] [--json] [--fail-on-loss]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AddrError, parseHostPort } from '../util/addr.js';
import { CaptureError, readCapture } from '../replay/capture.js';
import { FLOW_KINDS, type FlowKind } from '../replay/flows.js';
import { captureSource, flowSource, replay, type TrafficSource } from '../replay/sender.js';
import { formatReport } from '../replay/stats.js';

export const REPLAY_USAGE = `usage: sipfarm replay --target HOST:PORT [source] [options]

source (one of):
  --pcap FILE          replay the SIP/UDP requests of a pcap or pcapng capture
                       (Ethernet, Linux cooked, loopback or raw IPv4; the rest is skipped and counted)
    --unique           rewrite Call-ID, Via branch and tags per repetition (new calls each time)
    --repeat N         times through the capture (default 1; unbounded with --seconds)
    --map OLD=NEW      replace text everywhere in each message (repeatable; Content-Length is fixed up)
  --flow KIND          synthetic flows: ${FLOW_KINDS.join(', ')} (default options)
    --user U           user part of the called/registered AoR; {n} = flow number (default bench{n})
    --domain D         Request-URI domain (default the target)
    --hold MS          INVITE: time between the 2xx and the BYE (default 0)

options:
  --rate N             requests (captures) or flows (synthetic) per second (default 100)
  --count N            stop after N of them
  --seconds S          stop sending after S seconds (default 5 when no --count)
  --sources N          source UDP ports to send from (default 16)
  --bind HOST          local address to send from (default 127.0.0.1)
  --drain MS           wait for late responses after the last send (default 2000)
  --json               print the report as JSON instead of a table
  --fail-on-loss       exit 3 when a request got no response
`;

class UsageError extends Error {
  readonly code = 'ERR_REPLAY_USAGE';
}

function positive(v: string | undefined, name: string, d: number | undefined, max: number): number | undefined {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new UsageError(`--${name} must be a number in (0, ${max}]`);
  return n;
}

/** The `sipfarm replay` command. Returns the process exit code. */
export async function runReplay(argv: string[]): Promise<number> {
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  const err = (s: string): void => void process.stderr.write(`sipfarm replay: ${s}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        target: { type: 'string', short: 't' },
        pcap: { type: 'string' },
        unique: { type: 'boolean' },
        repeat: { type: 'string' },
        map: { type: 'string', multiple: true },
        flow: { type: 'string' },
        user: { type: 'string' },
        domain: { type: 'string' },
        hold: { type: 'string' },
        rate: { type: 'string', short: 'r' },
        count: { type: 'string', short: 'n' },
        seconds: { type: 'string', short: 's' },
        sources: { type: 'string' },
        bind: { type: 'string' },
        drain: { type: 'string' },
        json: { type: 'boolean' },
        'fail-on-loss': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    err(`${(e as Error).message}\n${REPLAY_USAGE}`);
    return 2;
  }
  if (values.help) {
    out(REPLAY_USAGE);
    return 0;
  }
  try {
    if (values.target === undefined) throw new UsageError('--target HOST:PORT is required');
    const target = parseHostPort(values.target);
    if (values.pcap !== undefined && values.flow !== undefined) throw new UsageError('--pcap and --flow exclude each other');
    const rate = positive(values.rate, 'rate', 100, 10_000_000) as number;
    let count = positive(values.count, 'count', undefined, 1e12);
    if (count !== undefined) count = Math.floor(count);
    const seconds = positive(values.seconds, 'seconds', count === undefined ? 5 : undefined, 86_400);
    const sourcePorts = Math.floor(positive(values.sources, 'sources', 16, 1024) as number);
    const drainMs = values.drain === undefined ? 2000 : Number(values.drain);
    if (!Number.isFinite(drainMs) || drainMs < 0) throw new UsageError('--drain must be a number of milliseconds ≥ 0');
    let source: TrafficSource;
    let skipped: Record<string, number> | undefined;
    if (values.pcap !== undefined) {
      const cap = readCapture(readFileSync(values.pcap));
      skipped = cap.skipped;
      const replace = (values.map ?? []).map((m) => {
        const eq = m.indexOf('=');
        if (eq <= 0) throw new UsageError(`--map "${m}" is not OLD=NEW`);
        return [m.slice(0, eq), m.slice(eq + 1)] as const;
      });
      const repeatDefault = seconds !== undefined && values.count === undefined ? Number.POSITIVE_INFINITY : 1;
      const repeat = values.repeat === undefined ? repeatDefault : Math.floor(positive(values.repeat, 'repeat', 1, 1e9) as number);
      const src = captureSource(cap.datagrams, { repeat, unique: values.unique === true, replace });
      if (src.requests === 0) {
        err(`${values.pcap}: no SIP/UDP requests to replay (${cap.frames} frames; skipped ${JSON.stringify(cap.skipped)})`);
        return 1;
      }
      source = src;
    } else {
      const kind = (values.flow ?? 'options') as FlowKind;
      if (!FLOW_KINDS.includes(kind)) throw new UsageError(`--flow must be one of ${FLOW_KINDS.join(', ')}`);
      const holdMs = values.hold === undefined ? 0 : Number(values.hold);
      if (!Number.isFinite(holdMs) || holdMs < 0) throw new UsageError('--hold must be a number of milliseconds ≥ 0');
      source = flowSource(kind, { target, user: values.user, domain: values.domain, holdMs });
    }
    const report = await replay({
      target, source, rate, count, seconds, sourcePorts, drainMs,
      bindHost: values.bind ?? '127.0.0.1',
      onProgress: values.json ? undefined : (sent, answered) => process.stderr.write(`  sent ${sent}, answered ${answered}\r`),
    });
    if (!values.json) process.stderr.write('\n');
    if (skipped) report.skipped = skipped;
    if (values.json) out(JSON.stringify(report, null, 2));
    else out(formatReport(report));
    return values['fail-on-loss'] && report.lost > 0 ? 3 : 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof AddrError) {
      err(`${e.message}\n${REPLAY_USAGE}`);
      return 2;
    }
    if (e instanceof CaptureError || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      err((e as Error).message);
      return 1;
    }
    throw e;
  }
}
