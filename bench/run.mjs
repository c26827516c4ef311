#!/usr/bin/env node
/**
 * sipfarm benchmark suite (`npm run bench`): one command, a few minutes, one machine.
 *
 * Fast path (packets per CPU-second of the system under test, one-way added latency):
 *   direct          generator → sink, no SUT: the latency baseline
 *   floor           bench/tools/floor-relay.c: recvmmsg → sendmmsg, no work at all
 *   sipfarm-native  a sipfarm member with the native addon, in relay role (if built)
 *   sipfarm-ts      a sipfarm member (pure TS fast path) in relay role: every datagram
 *                   it gets on its VIP belongs to the other member by the ring, so it is
 *                   classified, wrapped in an authenticated envelope and sent on the
 *                   farm channel; the sink plays the other member
 *   naive-node      node:dgram recv → send to the sink, nothing else
 *   kam-dispatcher  Kamailio: ds_select_dst(Call-ID hash) + stateless forward()
 *   kam-trelay      Kamailio: t_relay() (stateful), the sink answers 200 OK
 * Slow path (SIP messages per CPU-second of the proxy; sipp uac → proxy → sipp uas):
 *   sipfarm-proxy   one sipfarm member (transactions, proxy, registrar)
 *   kam-proxy       Kamailio registrar + record_route + t_relay
 *
 * Two cores, shared: the SUT is pinned to CPU 1, everything else (generator, sink, sipp,
 * this script) to CPU 0, and the generator is rate-limited, so the SUT is never starved
 * and CPU is read for the SUT's own processes only (/proc/<pid>/stat utime+stime).
 * Results go to stdout (a table) and bench/results/latest.json.
 *
 * Environment knobs: BENCH_RATE (pps, comma list, default 20000,80000), BENCH_ROUNDS (2),
 * BENCH_WARMUP (s, 2), BENCH_MEASURE (s, 8), BENCH_CPS (sipp calls/s, comma list, 200,600),
 * BENCH_CALL_SECONDS (10), BENCH_SLOW_ROUNDS (2), BENCH_WARM_CALLS (3000), BENCH_WARM_CPS (500), BENCH_ONLY (comma
 * list of row ids), BENCH_SUT_CPU (1), BENCH_GEN_CPU (0).
 */
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const TOOLS_SRC = join(ROOT, 'bench', 'tools');
const RESULTS = join(ROOT, 'bench', 'results');
const TMP = mkdtempSync(join(tmpdir(), 'sipfarm-bench-'));

const envNum = (name, d) => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? d : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};
/** BENCH_CPS=200,600: a comma list of positive numbers. */
const envList = (name, d) => {
  const v = process.env[name];
  if (v === undefined || v === '') return d;
  const list = v.split(',').map(Number);
  if (!list.every((n) => Number.isFinite(n) && n > 0)) throw new Error(`${name} must be a comma list of positive numbers`);
  return list;
};
const P = {
  // Two offered rates by default: at 20k pps a relay pays mostly per wake-up (small
  // batches), at 80k mostly per packet (the Kamailio rows are saturated at both).
  rates: envList('BENCH_RATE', [20000, 80000]),
  warmup: envNum('BENCH_WARMUP', 2),
  measure: envNum('BENCH_MEASURE', 8),
  cpsList: envList('BENCH_CPS', [200, 600]),
  callSeconds: envNum('BENCH_CALL_SECONDS', 10),
  rounds: envNum('BENCH_ROUNDS', 2),
  slowRounds: envNum('BENCH_SLOW_ROUNDS', 2),
  warmCalls: envNum('BENCH_WARM_CALLS', 3000),
  warmCps: envNum('BENCH_WARM_CPS', 500),
  sutCpu: String(process.env.BENCH_SUT_CPU ?? '1'),
  genCpu: String(process.env.BENCH_GEN_CPU ?? '0'),
  sources: 64,
  templates: 4096,
};
/** BENCH_CPU_PROF=DIR: Node SUTs write V8 CPU profiles there (node --cpu-prof) for "where does the time go". */
const PROF = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : null;
/** BENCH_NODE_ARGS: extra node options for the Node SUTs, e.g. --perf-basic-prof for `perf record`. */
const EXTRA_NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const nodeArgs = (name) => [...EXTRA_NODE_ARGS, ...(PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROF}`, `--cpu-prof-name=${name}.cpuprofile`] : [])];
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const wanted = (id) => ONLY === null || ONLY.has(id);
const FARM_KEY = 'bench-farm-key-0123456789abcdef';

const log = (s) => process.stderr.write(`[bench] ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- process bookkeeping: every process started here is ended here, by PID ------------

/** @type {Map<number, {name: string, child: import('node:child_process').ChildProcess}>} */
const procs = new Map();

function start(name, cpu, cmd, args, opts = {}) {
  const child = spawn('taskset', ['-c', cpu, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: opts.cwd ?? TMP, env: { ...process.env, ...(opts.env ?? {}) } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out = (out + d).slice(-200_000)));
  child.stderr.on('data', (d) => (err = (err + d).slice(-20_000)));
  const exited = new Promise((res) => child.on('exit', (code, sig) => { procs.delete(child.pid); res({ code, sig }); }));
  procs.set(child.pid, { name, child });
  return {
    child, pid: child.pid, exited, name,
    get out() { return out; },
    get err() { return err; },
    async ready(re = /ready/, ms = 10000) {
      const until = Date.now() + ms;
      while (!re.test(out + err)) {
        if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}) before it was ready:\n${err.slice(-2000)}`);
        if (Date.now() > until) throw new Error(`${name} not ready after ${ms} ms:\n${(out + err).slice(-2000)}`);
        await sleep(20);
      }
    },
  };
}

/** Direct children of a pid (Kamailio's forked workers), from /proc. */
function childrenOf(pid) {
  const kids = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(d));
    } catch { /* gone */ }
  }
  return kids;
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function stopProc(p, graceMs = 2000) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const kids = childrenOf(p.pid);
  try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
  const until = Date.now() + graceMs;
  while (alive(p.pid) && Date.now() < until) await sleep(20);
  if (alive(p.pid)) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
  for (const k of kids) if (alive(k)) try { process.kill(k, 'SIGKILL'); } catch { /* gone */ }
  await p.exited;
}

function killAllNow() {
  for (const [pid] of procs) {
    for (const k of childrenOf(pid)) try { process.kill(k, 'SIGKILL'); } catch { /* gone */ }
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { killAllNow(); process.exit(130); });

// ---- helpers -------------------------------------------------------------------------

async function freePorts(n) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    socks.push(s);
  }
  const ports = socks.map((s) => s.address().port);
  for (const s of socks) await new Promise((r) => s.close(r));
  return ports;
}

function sh(cmd, args) {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim(); } catch { return null; }
}

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const kam = sh('kamailio', ['-v']);
  return {
    cpu: model,
    cores: cpus().length,
    kernel: release(),
    node: process.version,
    kamailio: kam ? (/version:\s*kamailio\s+(\S+)/.exec(kam)?.[1] ?? kam.split('\n')[0]) : 'not installed',
    sipp: String(spawnSync('sipp', ['-v'], { encoding: 'utf8' }).stdout ?? '').match(/SIPp v[\d.]+/)?.[0] ?? 'not installed',
    gcc: (sh('gcc', ['-dumpfullversion']) ?? 'not installed'),
    date: new Date().toISOString(),
  };
}

/** Install a Debian package as root if a command is missing (never in tests; here only). */
function ensureDebian(cmd, pkg) {
  if (sh('sh', ['-c', `command -v ${cmd}`])) return true;
  if (process.getuid?.() !== 0) { log(`${cmd} missing and not root: rows that need it are skipped`); return false; }
  log(`installing ${pkg} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env });
  }
  return r.status === 0 && !!sh('sh', ['-c', `command -v ${cmd}`]);
}

function buildTools() {
  const out = join(TMP, 'tools');
  mkdirSync(out, { recursive: true });
  for (const t of ['udp-gen', 'udp-sink', 'floor-relay']) {
    execFileSync('gcc', ['-O2', '-Wall', '-o', join(out, t), join(TOOLS_SRC, `${t}.c`)], { stdio: 'inherit' });
  }
  return { gen: join(out, 'udp-gen'), sink: join(out, 'udp-sink'), floor: join(out, 'floor-relay') };
}

// ---- the workload --------------------------------------------------------------------

/**
 * INVITEs with a short SDP body, ~650 bytes: each a new transaction (the generator
 * writes a counter into the branch) and one of P.templates Call-IDs — all of which the
 * ring of a {1, 2} farm gives to member 2, checked with sipfarm's own classifier, so the
 * member under test (1) relays every one of them.
 */
async function makeTemplates(vipPort, replyPort) {
  const { classify, OwnershipTables, Verdict, Action } = await import(join(DIST, 'fastpath/classifier.js'));
  const { ScanResult } = await import(join(DIST, 'sip/scanner.js'));
  const { MaglevRing } = await import(join(DIST, 'farm/ring.js'));
  const t = new OwnershipTables();
  t.selfId = 1;
  t.alive[1] = 1;
  t.alive[2] = 1;
  t.ring = MaglevRing.build([1, 2]);
  const s = new ScanResult();
  const v = new Verdict();
  const parts = [];
  let made = 0;
  for (let i = 0; made < P.templates; i++) {
    const sdp = ['v=0', `o=gen ${i} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', ''].join('\r\n');
    const msg = [
      `INVITE sip:bench${i}@127.0.0.1:${vipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${replyPort};branch=z9hG4bK-bench-000000000000;rport`,
      'Max-Forwards: 70',
      `From: "bench" <sip:gen@127.0.0.1:${replyPort}>;tag=g${i}`,
      `To: <sip:bench${i}@127.0.0.1>`,
      `Call-ID: b${i}-${(i * 2654435761) >>> 0}@127.0.0.1`,
      'CSeq: 1 INVITE',
      `Contact: <sip:gen@127.0.0.1:${replyPort}>`,
      'X-Ts: 0000000000000000',
      'Content-Type: application/sdp',
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
    const b = Buffer.from(msg, 'latin1');
    if (classify(b, b.length, '127.0.0.1', 0, t, s, v) !== Action.RELAY || v.owner !== 2) continue;
    const h = Buffer.alloc(6);
    h.writeUInt16LE(b.length, 0);
    h.writeUInt16LE(b.indexOf('X-Ts: ') + 6, 2);
    h.writeUInt16LE(b.indexOf('z9hG4bK-bench-') + 14, 4);
    parts.push(h, b);
    made++;
  }
  const file = join(TMP, `templates-${vipPort}.bin`);
  writeFileSync(file, Buffer.concat(parts));
  return { file, bytes: parts[1].length };
}

// ---- one fast-path row ---------------------------------------------------------------

/**
 * Run generator → SUT → sink. `sut` starts the system under test (on the SUT CPU) and
 * returns { pids, stop, after? }. The sink measures count and SUT CPU over the window.
 */
async function fastRow(id, label, tools, sut, rate) {
  const [sinkA, sinkB, sutPort, replyPort, farmPort, adminPort] = await freePorts(6);
  const tpl = await makeTemplates(sutPort, replyPort);
  const ctx = { sutPort, sinkA, sinkB, replyPort, farmPort, adminPort, target: sutPort };
  let s = null;
  let sink = null;
  let gen = null;
  try {
    s = sut ? await sut(ctx) : { pids: [], target: sinkA, stop: async () => {} };
    const target = s.target ?? sutPort;
    const seconds = P.warmup + P.measure;
    const samples = join(TMP, `samples-${id}.bin`);
    sink = start(`${id}:sink`, P.genCpu, tools.sink, [
      `bind=127.0.0.1:${sinkA},127.0.0.1:${sinkB}`, `seconds=${seconds + 1.0}`, `warmup=${P.warmup}`, `measure=${P.measure}`,
      `pids=${s.pids.join(',')}`, `samples=${samples}`, `respond=${s.respond ? 1 : 0}`,
    ]);
    await sink.ready();
    gen = start(`${id}:gen`, P.genCpu, tools.gen, [
      `target=127.0.0.1:${target}`, `templates=${tpl.file}`, `rate=${rate}`, `seconds=${seconds + 0.5}`,
      `sources=${P.sources}`, `reply_port=${replyPort}`,
    ]);
    await gen.exited;
    await sink.exited;
    const g = JSON.parse(gen.out.trim().split('\n').pop());
    const k = JSON.parse(sink.out.trim().split('\n').pop());
    const cpuS = k.cpu_ticks / k.clk_tck;
    const row = {
      id, label, kind: 'fast', rate,
      offeredPps: rate,
      deliveredPps: k.window_count / k.window_s,
      deliveredShare: k.window_count / (rate * k.window_s),
      cpuS: s.pids.length ? cpuS : null,
      cpuUtil: s.pids.length ? cpuS / k.window_s : null,
      pktsPerCpuS: s.pids.length && cpuS > 0 ? k.window_count / cpuS : null,
      latP50Us: k.lat_p50_us, latP90Us: k.lat_p90_us, latP99Us: k.lat_p99_us,
      generator: g, sink: k, packetBytes: tpl.bytes,
    };
    if (s.after) Object.assign(row, await s.after({ samples, sink: k }));
    return row;
  } finally {
    for (const p of [gen, sink]) if (p) await stopProc(p);
    if (s) await s.stop();
  }
}

// ---- systems under test ----------------------------------------------------------------

const floorSut = (tools) => async (c) => {
  const p = start('floor-relay', P.sutCpu, tools.floor, [`bind=127.0.0.1:${c.sutPort}`, `to=127.0.0.1:${c.sinkA}`]);
  await p.ready();
  return { pids: [p.pid], stop: () => stopProc(p) };
};

const naiveSut = () => async (c) => {
  const p = start('naive-relay', P.sutCpu, process.execPath, [...nodeArgs('naive-node'), join(ROOT, 'bench', 'naive-relay.mjs'), String(c.sutPort), String(c.sinkA)]);
  await p.ready();
  return { pids: [p.pid], stop: () => stopProc(p) };
};

/**
 * A sipfarm member (id 1) of a two-member farm; member 2's farm address is the sink, and
 * this script heartbeats as member 2 so member 1 sees it alive and relays to it.
 */
const memberSut = (native) => async (c) => {
  const cfg = join(TMP, `member-${native ? 'native' : 'ts'}.yaml`);
  writeFileSync(cfg, [
    `vip: 127.0.0.1:${c.sutPort}`,
    `key: ${FARM_KEY}`,
    'heartbeat: { intervalMs: 100, deadAfterMs: 2000 }',
    // Short grace so the second-chance window (ring change when member 2 appears) is over before the warm-up ends.
    'graceMs: 200',
    'log: { level: error, samplePerSecond: 1 }',
    'members:',
    `  - { id: 1, address: 127.0.0.1:${c.farmPort}, metrics: 127.0.0.1:${c.adminPort} }`,
    `  - { id: 2, address: 127.0.0.1:${c.sinkA} }`,
    '',
  ].join('\n'));
  const env = { SIPFARM_NATIVE: native ? '1' : '0' };
  const p = start(native ? 'sipfarm-native' : 'sipfarm-ts', P.sutCpu, process.execPath, [...nodeArgs(native ? 'sipfarm-native' : 'sipfarm-ts'), join(ROOT, 'bin', 'sipfarm.js'), 'run', '--config', cfg, '--member', '1'], { env });
  const hb = await heartbeater(c.farmPort);
  const status = async () => {
    const r = await fetch(`http://127.0.0.1:${c.adminPort}/status`);
    return r.json();
  };
  const until = Date.now() + 10000;
  for (;;) {
    try {
      const st = await status();
      if (Array.isArray(st.live) && st.live.includes(2) && Array.isArray(st.ring) && st.ring.includes(2)) break;
    } catch { /* not listening yet */ }
    if (p.child.exitCode !== null) throw new Error(`sipfarm member exited: ${p.err.slice(-2000)}`);
    if (Date.now() > until) throw new Error(`member 1 never saw member 2 alive: ${p.err.slice(-2000)}`);
    await sleep(50);
  }
  await sleep(400); // past graceMs: the previous ring is gone
  return {
    pids: [p.pid],
    stop: async () => { hb.stop(); await stopProc(p); },
    after: async ({ samples }) => {
      const metrics = await (await fetch(`http://127.0.0.1:${c.adminPort}/metrics`)).text();
      const outcomes = {};
      for (const m of metrics.matchAll(/^sipfarm_packets_total\{[^}]*outcome="([^"]+)"[^}]*\}\s+(\d+)/gm)) outcomes[m[1]] = Number(m[2]);
      const drops = {};
      for (const m of metrics.matchAll(/^sipfarm_dropped_total\{[^}]*reason="([^"]+)"[^}]*\}\s+(\d+)/gm)) if (Number(m[2]) > 0) drops[m[1]] = Number(m[2]);
      return { outcomes, drops, envelopes: await verifySamples(samples) };
    },
  };
};

/** Heartbeats as member 2 to member 1's farm port (what a live peer would send). */
async function heartbeater(farmPort) {
  const env = await import(join(DIST, 'farm/envelope.js'));
  const mem = await import(join(DIST, 'farm/membership.js'));
  const key = env.deriveEnvelopeKey(FARM_KEY);
  const seq = new env.EnvelopeSequencer();
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  const beat = () => {
    const h = env.newEnvelopeHeader();
    h.kind = env.EnvelopeKind.HEARTBEAT;
    h.origin = 2;
    h.family = 0;
    seq.stamp(h);
    const payload = mem.encodeHeartbeat({ state: mem.HeartbeatState.ALIVE, sender: 2, epoch: 1, view: mem.viewHashOf([1, 2]) });
    s.send(env.encodeEnvelope(h, payload, key), farmPort, '127.0.0.1');
  };
  beat();
  const t = setInterval(beat, 100);
  return { stop: () => { clearInterval(t); s.close(); } };
}

/** Check the sink's sample of relayed datagrams with sipfarm's own envelope decoder. */
async function verifySamples(file) {
  const env = await import(join(DIST, 'farm/envelope.js'));
  const dec = new env.EnvelopeDecoder(env.deriveEnvelopeKey(FARM_KEY), { memberIds: new Set([1]) });
  const out = new env.DecodedEnvelope();
  let ok = 0;
  let bad = 0;
  const reasons = {};
  if (!existsSync(file)) return { checked: 0, ok: 0, bad: 0 };
  const b = readFileSync(file);
  for (let o = 0; o + 2 <= b.length;) {
    const n = b.readUInt16LE(o);
    const d = b.subarray(o + 2, o + 2 + n);
    o += 2 + n;
    const st = dec.decode(d, d.length, out);
    const payload = d.subarray(out.payloadStart, out.payloadEnd);
    if (st === 0 && out.kind === env.EnvelopeKind.RELAY && out.origin === 1 && out.srcAddress === '127.0.0.1'
      && payload.subarray(0, 7).toString() === 'INVITE ' && payload.includes('X-Ts: ')) ok++;
    else { bad++; const r = st === 0 ? 'content' : env.envelopeRejectName(st); reasons[r] = (reasons[r] ?? 0) + 1; }
  }
  return { checked: ok + bad, ok, bad, reasons };
}

/** The native fast path, when src/fastpath/native.ts says the addon loads and matches. */
async function nativeStatus() {
  try {
    const m = await import(join(DIST, 'fastpath/native.js'));
    if (typeof m.nativeAvailable !== 'function') return { available: false, why: 'native loader has no nativeAvailable()' };
    if (!m.nativeAvailable()) return { available: false, why: 'native: not built' };
    // A member that runs its VIP socket through the addon: the member runtime must know how.
    const member = readFileSync(join(DIST, 'farm/member.js'), 'utf8');
    if (!/native-udp|fastpath\/native/.test(member)) return { available: false, why: 'native: addon built, member runtime does not use it yet' };
    return { available: true };
  } catch (e) {
    return { available: false, why: `native: not built (${e.code ?? e.message})` };
  }
}

function kamSut(cfgName, respond) {
  return async (c) => {
    const dslist = join(TMP, 'dispatcher.list');
    writeFileSync(dslist, `1 sip:127.0.0.1:${c.sinkA}\n1 sip:127.0.0.1:${c.sinkB}\n`);
    const cfg = join(TMP, `kam-${cfgName}`);
    writeFileSync(cfg, readFileSync(join(ROOT, 'bench', 'kamailio', cfgName), 'utf8')
      .replaceAll('@LISTEN@', `127.0.0.1:${c.sutPort}`).replaceAll('@DSLIST@', dslist).replaceAll('@SINK1@', `127.0.0.1:${c.sinkA}`));
    return startKamailio(cfg, respond);
  };
}

async function startKamailio(cfg, respond = false) {
  const p = start('kamailio', P.sutCpu, 'kamailio', ['-DD', '-E', '-m', '512', '-M', '16', '-f', cfg, '-P', join(TMP, 'kam.pid'), '-Y', TMP]);
  await sleep(300);
  const until = Date.now() + 8000;
  // Ready when the forked workers exist (kamailio -DD stays in the foreground as their parent).
  while (childrenOf(p.pid).length < 2) {
    if (p.child.exitCode !== null) throw new Error(`kamailio exited: ${p.err.slice(-3000)}`);
    if (Date.now() > until) throw new Error(`kamailio did not start: ${p.err.slice(-3000)}`);
    await sleep(50);
  }
  await sleep(300);
  return { pids: [p.pid, ...childrenOf(p.pid)], stop: () => stopProc(p), respond };
}

// ---- slow path: sipp calls through a proxy ---------------------------------------------

const SCEN = join(ROOT, 'test', 'integration', 'sipp');
const CLK_TCK = Number(sh('getconf', ['CLK_TCK'])) || 100;

function procCpuTicks(pids) {
  let sum = 0;
  for (const pid of pids) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      sum += Number(f[11]) + Number(f[12]); // fields 14, 15: utime, stime
    } catch { /* gone */ }
  }
  return sum;
}

function sippStats(dir) {
  try {
    const file = readdirSync(dir).find((f) => f.endsWith('.csv'));
    const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
    const head = lines[0].split(';');
    const last = lines[lines.length - 1].split(';');
    const col = (n) => Number(last[head.indexOf(n)] ?? 0);
    return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)'), retrans: col('Retransmissions(C)') };
  } catch { return { successful: 0, failed: 0, retrans: 0 }; }
}

function sippArgs(dir, extra) {
  return [...extra, '-nostdin', '-timeout', `${Math.ceil(P.callSeconds + 20)}s`, '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1'];
}

/** Register the callee, then place calls for BENCH_CALL_SECONDS; proxy CPU over the call phase. */
async function slowRow(id, label, startProxy, cps) {
  const [proxyPort, uasPort, uacPort, farmPort, adminPort] = await freePorts(5);
  const proxy = await startProxy({ proxyPort, farmPort, adminPort });
  const procsHere = [];
  try {
    const regDir = mkdtempSync(join(TMP, 'reg-'));
    const reg = start(`${id}:register`, P.genCpu, 'sipp', sippArgs(regDir, ['-sf', join(SCEN, 'register.xml'), '-s', 'demo', '-i', '127.0.0.1', '-p', String(uasPort), '-m', '1', `127.0.0.1:${proxyPort}`]), { cwd: regDir });
    procsHere.push(reg);
    await reg.exited;
    if (sippStats(regDir).successful !== 1) throw new Error(`registration through ${label} failed: ${reg.out.slice(-1500)}`);
    const total = Math.round(cps * P.callSeconds);
    // Warm-up calls first, not measured, the same for every proxy: a proxy in service runs
    // warm (V8 has compiled sipfarm's hot functions with TurboFan, tables have grown);
    // Kamailio is compiled C and does not care. BENCH_WARM_CALLS at BENCH_WARM_CPS.
    const warm = Math.round(P.warmCalls);
    const uasDir = mkdtempSync(join(TMP, 'uas-'));
    const uas = start(`${id}:uas`, P.genCpu, 'sipp', sippArgs(uasDir, ['-sf', join(SCEN, 'uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', String(total + warm)]), { cwd: uasDir });
    procsHere.push(uas);
    await sleep(300);
    const uac = (n, tag, rate) => {
      const dir = mkdtempSync(join(TMP, `uac-${tag}-`));
      const p = start(`${id}:uac-${tag}`, P.genCpu, 'sipp', sippArgs(dir, ['-sf', join(SCEN, 'uac.xml'), '-s', 'demo', '-i', '127.0.0.1', '-p', String(uacPort), '-m', String(n), '-r', String(rate), '-d', '0', `127.0.0.1:${proxyPort}`]), { cwd: dir });
      procsHere.push(p);
      return { p, dir };
    };
    const w = uac(warm, 'warm', P.warmCps);
    await w.p.exited;
    await sleep(200);
    const cpu0 = procCpuTicks(proxy.pids());
    const t0 = Date.now();
    const m = uac(total, 'run', cps);
    await m.p.exited;
    const uacDir = m.dir;
    const cpu1 = procCpuTicks(proxy.pids());
    const wall = (Date.now() - t0) / 1000;
    const st = sippStats(uacDir);
    const cpuS = (cpu1 - cpu0) / CLK_TCK;
    // Per completed call the proxy receives 6 messages (INVITE, 180, 200, ACK, BYE, 200) and sends 7 (+100 Trying).
    const msgsIn = st.successful * 6;
    return {
      id, label, kind: 'slow', cps,
      calls: st.successful, failed: st.failed, retransmissions: st.retrans, wallS: wall,
      cpuS, cpuUtil: cpuS / wall,
      msgsPerCpuS: cpuS > 0 ? msgsIn / cpuS : null,
      callsPerCpuS: cpuS > 0 ? st.successful / cpuS : null,
      ...(proxy.fastPath ? { fastPath: proxy.fastPath } : {}),
    };
  } finally {
    for (const p of procsHere) await stopProc(p);
    await proxy.stop();
  }
}

/** One sipfarm member as users run it: the native fast path when the addon is built, else TS. */
async function sipfarmProxy({ proxyPort, farmPort, adminPort }) {
  const cfg = join(TMP, 'proxy-member.yaml');
  writeFileSync(cfg, [
    `vip: 127.0.0.1:${proxyPort}`, `key: ${FARM_KEY}`, 'log: { level: error, samplePerSecond: 1 }',
    'members:', `  - { id: 1, address: 127.0.0.1:${farmPort}, metrics: 127.0.0.1:${adminPort} }`, '',
  ].join('\n'));
  const p = start('sipfarm-proxy', P.sutCpu, process.execPath, [...nodeArgs('sipfarm-proxy'), join(ROOT, 'bin', 'sipfarm.js'), 'run', '--config', cfg, '--member', '1'], { env: {} });
  await sleep(1000);
  if (p.child.exitCode !== null) throw new Error(`sipfarm member exited: ${p.err}`);
  const st = await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json();
  return { pids: () => [p.pid], stop: () => stopProc(p), fastPath: st.fastPath };
}

async function kamProxy({ proxyPort }) {
  const cfg = join(TMP, 'kam-proxy.cfg');
  writeFileSync(cfg, readFileSync(join(ROOT, 'bench', 'kamailio', 'proxy.cfg'), 'utf8').replaceAll('@LISTEN@', `127.0.0.1:${proxyPort}`));
  const k = await startKamailio(cfg);
  return { pids: () => k.pids, stop: k.stop };
}

// ---- rounds ----------------------------------------------------------------------------

const median = (v) => {
  const a = [...v].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

/** Per-round ratios as median, min, max and count; null when there are none. */
const spreadOf = (v) => (v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length } : null);

/**
 * One row per fast-path SUT from its rounds: medians of its figures, and its ratios to the
 * floor and to Kamailio taken round by round (same minute, same machine state) — median,
 * min and max of those. Every round's raw figures stay in `runs`.
 */
function aggregateFast(runs) {
  const out = [];
  for (const key of [...new Set(runs.map((r) => `${r.rate} ${r.id}`))]) {
    const mine = runs.filter((r) => `${r.rate} ${r.id}` === key);
    const ok = mine.filter((r) => r.kind === 'fast');
    if (ok.length === 0) { out.push(mine[0]); continue; }
    const med = (f) => {
      const v = ok.map(f).filter((x) => typeof x === 'number' && Number.isFinite(x));
      return v.length ? median(v) : null;
    };
    const ratio = (baseId) => {
      const v = [];
      for (const r of ok) {
        const b = runs.find((x) => x.id === baseId && x.rate === r.rate && x.round === r.round && x.kind === 'fast');
        if (b?.pktsPerCpuS && r.pktsPerCpuS) v.push(r.pktsPerCpuS / b.pktsPerCpuS);
      }
      return spreadOf(v);
    };
    out.push({
      ...ok[ok.length - 1],
      rounds: ok.length,
      failedRounds: mine.length - ok.length,
      deliveredPps: med((r) => r.deliveredPps),
      deliveredShare: med((r) => r.deliveredShare),
      cpuUtil: med((r) => r.cpuUtil),
      pktsPerCpuS: med((r) => r.pktsPerCpuS),
      latP50Us: med((r) => r.latP50Us),
      latP90Us: med((r) => r.latP90Us),
      latP99Us: med((r) => r.latP99Us),
      vsFloor: ratio('floor'),
      vsKamDisp: ratio('kam-dispatcher'),
      vsKamTrelay: ratio('kam-trelay'),
      runs: ok.map((r) => ({ round: r.round, pktsPerCpuS: r.pktsPerCpuS, cpuUtil: r.cpuUtil, deliveredPps: r.deliveredPps, latP50Us: r.latP50Us, latP99Us: r.latP99Us })),
    });
  }
  return out;
}

/** One row per (proxy, rate): medians over rounds, and the ratio to Kamailio per round. */
function aggregateSlow(runs) {
  const out = [];
  for (const key of [...new Set(runs.map((r) => `${r.cps} ${r.id}`))]) {
    const mine = runs.filter((r) => `${r.cps} ${r.id}` === key);
    const ok = mine.filter((r) => r.kind === 'slow' && r.msgsPerCpuS);
    if (ok.length === 0) { out.push(mine[0]); continue; }
    const med = (f) => median(ok.map(f));
    const v = [];
    for (const r of ok) {
      const k = runs.find((x) => x.id === 'kam-proxy' && x.cps === r.cps && x.round === r.round && x.kind === 'slow' && x.msgsPerCpuS);
      if (k) v.push(r.msgsPerCpuS / k.msgsPerCpuS);
    }
    out.push({
      ...ok[ok.length - 1],
      rounds: ok.length,
      failedRounds: mine.length - ok.length,
      calls: ok.reduce((a, r) => a + r.calls, 0),
      failed: ok.reduce((a, r) => a + r.failed, 0),
      retransmissions: ok.reduce((a, r) => a + r.retransmissions, 0),
      cpuUtil: med((r) => r.cpuUtil),
      msgsPerCpuS: med((r) => r.msgsPerCpuS),
      callsPerCpuS: med((r) => r.callsPerCpuS),
      vsKam: spreadOf(v),
      runs: ok.map((r) => ({ round: r.round, msgsPerCpuS: r.msgsPerCpuS, cpuUtil: r.cpuUtil, calls: r.calls, failed: r.failed })),
    });
  }
  return out;
}

// ---- output ----------------------------------------------------------------------------

const fmt = (v, d = 0) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

/** A spreadOf() result as "77% (71–82)" ("-" when there is none). */
const fmtSpread = (x) => (x === null || x === undefined ? '-' : `${(100 * x.median).toFixed(0)}%${x.n > 1 ? ` (${(100 * x.min).toFixed(0)}–${(100 * x.max).toFixed(0)})` : ''}`);

/** Latency in µs; the sink's histogram stops at 1 s (its overflow bucket). */
const fmtLat = (us) => (us >= 1e6 ? '≥1 s' : fmt(us));

function table(m, rows, notes) {
  const lines = [];
  lines.push('sipfarm benchmark');
  lines.push(`machine: ${m.cpu}, ${m.cores} cores, Linux ${m.kernel}, Node ${m.node}, kamailio ${m.kamailio}, ${m.sipp}, gcc ${m.gcc}`);
  lines.push(`pinning: SUT on CPU ${P.sutCpu}; generator, sink, sipp and this script on CPU ${P.genCpu} (taskset); generator rate-limited (open loop)`);
  lines.push(`fast path: ${P.rates.map((x) => fmt(x)).join(' and ')} pps offered (INVITE+SDP, ${rows.find((r) => r.packetBytes)?.packetBytes ?? '?'} B, new branch each, ${P.templates} Call-IDs, ${P.sources} source ports), warm-up ${P.warmup} s, measured ${P.measure} s, ${P.rounds} rounds interleaved: medians, ratios per round (median, min–max)`);
  lines.push(`slow path: sipp uac ${P.cpsList.join(' and ')} calls/s for ${P.callSeconds} s each → proxy → sipp uas (INVITE/180/200/ACK/BYE/200, no hold), after ${P.warmCalls} warm-up calls at ${P.warmCps}/s; ${P.slowRounds} rounds: medians (calls summed), ratio to Kamailio per round (median, min–max)`);
  lines.push('');
  const head = ['row', 'delivered/s', 'deliv.', 'SUT CPU', 'pkts/CPU-s', 'vs floor', 'vs kam-disp', 'vs kam-trelay', 'lat p50 µs', 'p99 µs', '+p50 µs', '+p99 µs'];
  for (const rate of P.rates) {
    const direct = rows.find((r) => r.id === 'direct' && r.rate === rate);
    const body = [];
    for (const r of rows.filter((x) => (x.kind === 'fast' || x.kind === 'skipped-fast') && x.rate === rate)) {
      if (r.kind === 'skipped-fast') {
        body.push([r.id, ...head.slice(1).map(() => '-')]);
        if (!notes.includes(`${r.id}: ${r.why}`)) notes.unshift(`${r.id}: ${r.why}`);
        continue;
      }
      body.push([
        r.id, fmt(r.deliveredPps), `${(100 * r.deliveredShare).toFixed(1)}%`, r.cpuUtil === null ? '-' : `${(100 * r.cpuUtil).toFixed(1)}%${r.cpuUtil >= 0.9 ? '*' : ''}`,
        fmt(r.pktsPerCpuS), fmtSpread(r.vsFloor), fmtSpread(r.vsKamDisp), fmtSpread(r.vsKamTrelay), fmtLat(r.latP50Us), fmtLat(r.latP99Us),
        ...[[r.latP50Us, direct?.latP50Us], [r.latP99Us, direct?.latP99Us]].map(([v, base]) => (!direct || r.id === 'direct' ? '-' : v >= 1e6 ? '≥1 s' : fmt(v - base))),
      ]);
    }
    if (body.length === 0) continue;
    lines.push(`fast path at ${fmt(rate)} pps offered`);
    lines.push(...grid(head, body));
    lines.push('');
  }
  const sp = rows.filter((x) => x.kind === 'slow' || x.kind === 'skipped-slow');
  if (sp.length) {
    const h2 = ['row', 'calls/s', 'calls ok', 'failed', 'retrans', 'proxy CPU', 'SIP msgs in/CPU-s', 'calls/CPU-s', 'vs kam-proxy'];
    for (const r of sp) if (r.kind === 'skipped-slow') notes.unshift(`${r.id}: ${r.why}`);
    const b2 = sp.map((r) => (r.kind === 'skipped-slow' ? [r.id, ...h2.slice(1).map(() => '-')] : [
      r.id + (r.fastPath ? ` (${r.fastPath})` : ''), fmt(r.cps), fmt(r.calls), fmt(r.failed), fmt(r.retransmissions), `${(100 * r.cpuUtil).toFixed(1)}%`, fmt(r.msgsPerCpuS), fmt(r.callsPerCpuS),
      fmtSpread(r.vsKam),
    ]));
    lines.push(...grid(h2, b2));
    lines.push('');
  }
  lines.push(...notes);
  return lines.join('\n');
}

function grid(head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...body.map(line)];
}

// ---- main ------------------------------------------------------------------------------

async function main() {
  const t0 = Date.now();
  try { execFileSync('taskset', ['-pc', P.genCpu, String(process.pid)], { stdio: 'ignore' }); } catch { /* fine without */ }
  if (!existsSync(join(DIST, 'farm/member.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it)');
  const haveKam = ensureDebian('kamailio', 'kamailio');
  const haveSipp = ensureDebian('sipp', 'sip-tester');
  if (!ensureDebian('gcc', 'gcc')) throw new Error('gcc is needed to build bench/tools');
  const m = machine();
  log(`machine: ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, node ${m.node}, kamailio ${m.kamailio}`);
  const tools = buildTools();
  const rows = [];
  const notes = [];
  const run = async (id, label, fn, into = rows, round = 1, rate = undefined) => {
    if (!wanted(id)) return;
    log(`${id}: ${label}`);
    try {
      const r = await fn();
      r.round = round;
      if (rate !== undefined) r.rate = rate;
      into.push(r);
      if (r.kind === 'fast') log(`  ${fmt(r.deliveredPps)} pps delivered, ${r.pktsPerCpuS ? fmt(r.pktsPerCpuS) + ' pkts/CPU-s' : 'no SUT'}, p50 ${r.latP50Us} µs p99 ${r.latP99Us} µs`);
      else if (r.kind === 'slow') log(`  ${r.calls} calls ok, ${r.failed} failed, ${fmt(r.msgsPerCpuS)} msgs/CPU-s`);
    } catch (e) {
      log(`  FAILED: ${e.message}`);
      into.push({ id, label, round, ...(rate !== undefined ? { rate } : {}), kind: id.startsWith('sipfarm-proxy') || id === 'kam-proxy' ? 'skipped-slow' : 'skipped-fast', why: `failed: ${e.message.split('\n')[0].slice(0, 60)}`, error: e.message });
    }
  };

  // The fast-path SUTs, run BENCH_ROUNDS times interleaved (floor, native, ts, ... then again):
  // a noisy neighbour or a frequency change then hits every row alike, and each row's ratio
  // to the floor is taken within its round, then the median over rounds is reported.
  const nat = await nativeStatus();
  const fastSuts = [['floor', 'C recvmmsg/sendmmsg relay (the floor)', () => floorSut(tools)]];
  if (nat.available) fastSuts.push(['sipfarm-native', 'sipfarm member, native fast path, relay role', () => memberSut(true)]);
  else if (wanted('sipfarm-native')) {
    for (const rate of P.rates) rows.push({ id: 'sipfarm-native', rate, kind: 'skipped-fast', why: nat.why });
    log(`sipfarm-native: ${nat.why}`);
  }
  fastSuts.push(['sipfarm-ts', 'sipfarm member, pure TS fast path, relay role', () => memberSut(false)]);
  fastSuts.push(['naive-node', 'node:dgram recv → send', () => naiveSut()]);
  if (haveKam) {
    fastSuts.push(['kam-dispatcher', 'Kamailio dispatcher (Call-ID hash) + forward()', () => kamSut('dispatcher.cfg', false)]);
    fastSuts.push(['kam-trelay', 'Kamailio t_relay (stateful), sink answers 200', () => kamSut('trelay.cfg', true)]);
  } else {
    for (const id of ['kam-dispatcher', 'kam-trelay']) for (const rate of P.rates) if (wanted(id)) rows.push({ id, rate, kind: 'skipped-fast', why: 'kamailio: not installed' });
  }
  const fastRuns = [];
  for (const rate of P.rates) {
    await run('direct', `${fmt(rate)} pps: generator → sink, no SUT (latency baseline)`, () => fastRow('direct', 'direct', tools, null, rate), rows, 1, rate);
    for (let round = 1; round <= P.rounds; round++) {
      for (const [id, label, sut] of fastSuts) await run(id, `${fmt(rate)} pps: ${label}, round ${round}/${P.rounds}`, () => fastRow(id, id, tools, sut(), rate), fastRuns, round, rate);
    }
  }
  rows.push(...aggregateFast(fastRuns));
  if (haveSipp) {
    // Rounds as for the fast path: sipfarm and Kamailio back to back at each rate, the
    // ratio taken within the round (one 10 s row moves by ±10% with the machine's noise).
    const slowRuns = [];
    const R = P.slowRounds;
    for (let round = 1; round <= R; round++) {
      for (const cps of P.cpsList) {
        await run('sipfarm-proxy', `${cps} calls/s through one sipfarm member, round ${round}/${R}`, () => slowRow('sipfarm-proxy', 'sipfarm proxy', sipfarmProxy, cps), slowRuns, round);
        if (haveKam) await run('kam-proxy', `${cps} calls/s through Kamailio (registrar, rr, t_relay), round ${round}/${R}`, () => slowRow('kam-proxy', 'kamailio proxy', kamProxy, cps), slowRuns, round);
      }
    }
    rows.push(...aggregateSlow(slowRuns));
  } else {
    for (const id of ['sipfarm-proxy', 'kam-proxy']) if (wanted(id)) rows.push({ id, kind: 'skipped-slow', why: 'sipp: not installed' });
  }

  const ts = rows.find((r) => r.id === 'sipfarm-ts' && r.rate === P.rates[0]);
  if (ts?.envelopes) notes.push(`sipfarm-ts at ${fmt(ts.rate)} pps: envelopes verified at the sink (sample): ${ts.envelopes.ok}/${ts.envelopes.checked} authentic${ts.envelopes.bad ? `, ${ts.envelopes.bad} bad ${JSON.stringify(ts.envelopes.reasons)}` : ''}; member outcomes ${JSON.stringify(ts.outcomes)}${Object.keys(ts.drops ?? {}).length ? `, drops ${JSON.stringify(ts.drops)}` : ''}`);
  const tn = rows.find((r) => r.id === 'sipfarm-native' && r.rate === P.rates[0]);
  if (tn?.envelopes) notes.push(`sipfarm-native at ${fmt(tn.rate)} pps: envelopes verified at the sink (sample): ${tn.envelopes.ok}/${tn.envelopes.checked} authentic${tn.envelopes.bad ? `, ${tn.envelopes.bad} bad ${JSON.stringify(tn.envelopes.reasons)}` : ''}; member outcomes ${JSON.stringify(tn.outcomes)}${Object.keys(tn.drops ?? {}).length ? `, drops ${JSON.stringify(tn.drops)}` : ''}`);
  notes.push('pkts/CPU-s = datagrams delivered to the sink in the window ÷ SUT CPU seconds (utime+stime of all its processes) in the same window.');
  notes.push('lat = one-way generator → sink (send timestamp in the payload); +p50/+p99 = minus the "direct" row: what the SUT adds.');
  if (rows.some((r) => r.cpuUtil >= 0.9 && r.kind === 'fast')) notes.push('* saturated: the SUT used ≥ 90% of its core, so it could not take the offered rate; its latency is mostly queueing and its pkts/CPU-s is its ceiling.');
  notes.push('kam-trelay also sends a 100 Trying per INVITE and relays the sink\'s 200 OK upstream (stateful work counted in its CPU, not in its pkts).');
  notes.push(`total bench time ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const text = table(m, rows, notes);
  process.stdout.write(`\n${text}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify({ machine: m, params: P, rows, table: text }, null, 2) + '\n');
  log(`wrote ${join(RESULTS, 'latest.json')}`);
}

main().then(
  () => { killAllNow(); rmSync(TMP, { recursive: true, force: true }); },
  (e) => { log(`error: ${e.stack ?? e}`); killAllNow(); process.exitCode = 1; },
);
