#!/usr/bin/env node
/**
 * The "naive Node relay" row: node:dgram receive → send the same bytes to the sink.
 * No parsing, no classification, no envelope — what any Node program pays per datagram
 * for the event loop and dgram alone. sipfarm's pure-TS fast path should not cost less
 * than this plus its classification and HMAC; the bench shows by how much it costs more.
 *
 *   node bench/naive-relay.mjs LISTEN_PORT SINK_PORT
 */
import * as dgram from 'node:dgram';

const [listenPort, sinkPort] = process.argv.slice(2).map(Number);
const s = dgram.createSocket('udp4');
s.on('message', (buf) => s.send(buf, sinkPort, '127.0.0.1'));
s.on('error', () => undefined);
s.bind(listenPort, '127.0.0.1', () => {
  try { s.setRecvBufferSize(4 << 20); s.setSendBufferSize(4 << 20); } catch { /* capped */ }
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => s.close(() => process.exit(0)));
