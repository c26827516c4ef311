import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { startInProcessFarm, type InProcessFarm } from '../../../src/lab/in-process.js';
import { captureSource, flowSource, replay } from '../../../src/replay/sender.js';
import { messageKey } from '../../../src/replay/rewrite.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runReplay } from '../../../src/cli/replay.js';
import type { CapturedDatagram } from '../../../src/replay/capture.js';

// A real two-member farm in this process (one-host mode): the replayer's requests reach
// a random member, which answers or relays them to the owner over the farm channel.
let farm: InProcessFarm;
beforeAll(async () => {
  farm = await startInProcessFarm([1, 2]);
  await farm.waitConverged();
});
afterAll(async () => {
  await farm?.stop();
});

describe('replay against an in-process farm', () => {
  it('synthetic REGISTER flows: every request answered 200, latency measured per request', async () => {
    const target = farm.vip;
    const r = await replay({ target, source: flowSource('register', { target, user: 'u{n}', domain: '127.0.0.1' }), rate: 400, count: 200, sourcePorts: 8, bindHost: '127.0.0.1', drainMs: 2000 });
    expect(r.sent).toBe(200);
    expect(r.offered).toBe(200);
    expect(r.answered).toBe(200);
    expect(r.lost).toBe(0);
    expect(r.finals).toEqual({ '2xx': 200 });
    expect(r.latency.count).toBe(200);
    expect(r.latency.p50Ms).toBeGreaterThan(0);
    expect(r.latency.p99Ms).toBeGreaterThanOrEqual(r.latency.p50Ms);
    // Paced: 200 at 400/s take about half a second, not an instant.
    expect(r.durationS).toBeGreaterThan(0.4);
    expect(r.rateAchieved).toBeGreaterThan(300);
    expect(r.rateAchieved).toBeLessThan(500);
  });

  it('a captured request replayed with --unique is a new call each time (and answered)', async () => {
    const reg = Buffer.from([
      'REGISTER sip:127.0.0.1 SIP/2.0',
      'Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKcap1',
      'Max-Forwards: 70',
      'From: <sip:carol@127.0.0.1>;tag=t1',
      'To: <sip:carol@127.0.0.1>',
      'Call-ID: captured-1@10.0.0.7',
      'CSeq: 1 REGISTER',
      'Contact: <sip:carol@10.0.0.7:5060>',
      'Expires: 60',
      'Content-Length: 0',
      '', '',
    ].join('\r\n'));
    const d: CapturedDatagram = { tsUs: 0, src: '10.0.0.7', srcPort: 5060, dst: '10.0.0.1', dstPort: 5060, payload: reg };
    const src = captureSource([d], { repeat: 50, unique: true, runId: 'T' });
    // Units are distinct calls: Call-ID and branch differ per repetition.
    const a = src.unit(0, { host: '127.0.0.1', port: 1 })!.sends[0].buf;
    const b = src.unit(1, { host: '127.0.0.1', port: 1 })!.sends[0].buf;
    expect(messageKey(a)!.callId).toBe('captured-1@10.0.0.7-Tr0');
    expect(messageKey(b)!.callId).toBe('captured-1@10.0.0.7-Tr1');
    expect(b.toString()).toContain('Via: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKcap1-Tr1');
    expect(src.unit(50, { host: '127.0.0.1', port: 1 })).toBeNull();

    const r = await replay({ target: farm.vip, source: src, rate: 500, count: 1000, sourcePorts: 4, bindHost: '127.0.0.1', drainMs: 2000 });
    expect(r.offered).toBe(50); // the source ran out after 50 repetitions
    expect(r.answered).toBe(50);
    expect(r.finals['2xx']).toBe(50);
  });
});

describe('replay loss accounting', () => {
  it('counts requests to a silent target as lost', async () => {
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((res) => sink.bind(0, '127.0.0.1', () => res()));
    let got = 0;
    sink.on('message', () => got++);
    try {
      const target = { host: '127.0.0.1', port: sink.address().port };
      const r = await replay({ target, source: flowSource('options', { target }), rate: 1000, count: 100, sourcePorts: 2, bindHost: '127.0.0.1', drainMs: 200 });
      expect(r.offered).toBe(100);
      expect(r.answered).toBe(0);
      expect(r.lost).toBe(100);
      expect(got).toBe(100);
      expect(r.latency.count).toBe(0);
    } finally {
      sink.close();
    }
  });
});

/** A classic pcap (Linux cooked, µs) holding the given UDP payloads from 10.0.0.7:5060. */
function writePcap(payloads: Buffer[]): string {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(0xa1b2c3d4, 0); g.writeUInt16LE(2, 4); g.writeUInt16LE(4, 6); g.writeUInt32LE(65535, 16); g.writeUInt32LE(113, 20);
  const parts = [g];
  payloads.forEach((p, i) => {
    const sll = Buffer.alloc(16); sll.writeUInt16BE(0x0800, 14);
    const ip = Buffer.alloc(20); ip[0] = 0x45; ip.writeUInt16BE(28 + p.length, 2); ip[8] = 64; ip[9] = 17;
    Buffer.from([10, 0, 0, 7]).copy(ip, 12); Buffer.from([10, 0, 0, 1]).copy(ip, 16);
    const udp = Buffer.alloc(8); udp.writeUInt16BE(5060, 0); udp.writeUInt16BE(5060, 2); udp.writeUInt16BE(8 + p.length, 4);
    const frame = Buffer.concat([sll, ip, udp, p]);
    const h = Buffer.alloc(16); h.writeUInt32LE(1000 + i, 0); h.writeUInt32LE(frame.length, 8); h.writeUInt32LE(frame.length, 12);
    parts.push(h, frame);
  });
  const file = join(mkdtempSync(join(tmpdir(), 'sipfarm-replay-test-')), 'cap.pcap');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

describe('sipfarm replay (command)', () => {
  it('replays a pcap with --unique to the farm without loss, and refuses bad arguments', async () => {
    const reqs = ['dave', 'erin'].map((u, i) => Buffer.from([
      'REGISTER sip:127.0.0.1 SIP/2.0', `Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bKp${i}`, 'Max-Forwards: 70',
      `From: <sip:${u}@127.0.0.1>;tag=a${i}`, `To: <sip:${u}@127.0.0.1>`, `Call-ID: pc${i}@10.0.0.7`, 'CSeq: 1 REGISTER',
      `Contact: <sip:${u}@10.0.0.7:5060>`, 'Content-Length: 0', '', '',
    ].join('\r\n')));
    const resp = Buffer.from('SIP/2.0 200 OK\r\nCall-ID: pc0@10.0.0.7\r\nCSeq: 1 REGISTER\r\n\r\n');
    const file = writePcap([reqs[0], resp, reqs[1]]);
    const target = `${farm.vip.host}:${farm.vip.port}`;
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await runReplay(['--target', target, '--pcap', file, '--unique', '--repeat', '25', '--rate', '1000', '--json', '--fail-on-loss', '--drain', '2000']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    const report = JSON.parse(out.join(''));
    expect(report.offered).toBe(50); // 2 requests × 25; the captured response is not sent
    expect(report.answered).toBe(50);
    expect(report.finals).toEqual({ '2xx': 50 });
    expect(await runReplay(['--pcap', file])).toBe(2); // no --target
    expect(await runReplay(['--target', target, '--flow', 'bogus'])).toBe(2);
    expect(await runReplay(['--target', target, '--rate', '-5'])).toBe(2);
  });
});
