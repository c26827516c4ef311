import { describe, expect, it } from 'vitest';
import { messageKey, rewriteMessage, splitMessage, headerValues } from '../../../src/replay/rewrite.js';

const SDP = 'v=0\r\no=alice 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';
const INVITE = [
  'INVITE sip:bob@10.1.1.2 SIP/2.0',
  'Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc;rport',
  'Via: SIP/2.0/UDP 10.9.9.9:5080;branch=z9hG4bKdown',
  'From: <sip:alice@10.1.1.1>;tag=ft1',
  'To: <sip:bob@10.1.1.2>',
  'Call-ID: call-1@10.1.1.1',
  'CSeq: 1 INVITE',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join('\r\n');

function contentLength(b: Buffer): number {
  return Number(headerValues(splitMessage(b.toString('latin1')), 'content-length')[0]);
}
function body(b: Buffer): Buffer {
  const i = b.indexOf('\r\n\r\n');
  return b.subarray(i + 4);
}

describe('rewriteMessage', () => {
  it('rewrites Call-ID, every branch and tags, keeping the magic cookie and Content-Length', () => {
    const out = rewriteMessage(Buffer.from(INVITE, 'latin1'), { callIdSuffix: '-r1', branchSuffix: '-r1', tagSuffix: '-r1' });
    const k = messageKey(out)!;
    expect(k.callId).toBe('call-1@10.1.1.1-r1');
    const text = out.toString('latin1');
    expect(text).toContain('branch=z9hG4bKabc-r1;rport');
    expect(text).toContain('branch=z9hG4bKdown-r1');
    expect(text).toContain(';tag=ft1-r1');
    expect(text).toContain('To: <sip:bob@10.1.1.2>\r\n'); // no tag: none added
    expect(contentLength(out)).toBe(body(out).length);
    expect(body(out).toString('latin1')).toBe(SDP);
  });

  it('fixes Content-Length when a replacement changes the body length', () => {
    const out = rewriteMessage(Buffer.from(INVITE, 'latin1'), { replace: [['10.1.1.1', '127.0.0.1']] });
    expect(body(out).toString('latin1')).toContain('c=IN IP4 127.0.0.1');
    expect(body(out).length).toBe(Buffer.byteLength(SDP) + 2); // two 8-byte addresses became 9 bytes
    expect(contentLength(out)).toBe(body(out).length);
    expect(contentLength(out)).not.toBe(Buffer.byteLength(SDP));
  });

  it('handles compact headers and bare-LF messages', () => {
    const msg = 'MESSAGE sip:b@h SIP/2.0\nv: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKx\ni: cid\nCSeq: 7 MESSAGE\nl: 5\n\nhello';
    const out = rewriteMessage(Buffer.from(msg), { callIdSuffix: '.2', replace: [['hello', 'hello there']], topVia: { host: '127.0.0.1', port: 4242 } });
    const text = out.toString('latin1');
    expect(text).toContain('i: cid.2\n');
    expect(text).toContain('v: SIP/2.0/UDP 127.0.0.1:4242;branch=z9hG4bKx\n');
    expect(text).toContain('l: 11\n');
    expect(text.endsWith('\n\nhello there')).toBe(true);
  });

  it('sets the top Via sent-by only, whatever its form', () => {
    const out = rewriteMessage(Buffer.from(INVITE, 'latin1'), { topVia: { host: '127.0.0.5', port: 40000 } });
    const vias = headerValues(splitMessage(out.toString('latin1')), 'via');
    expect(vias).toEqual(['SIP/2.0/UDP 127.0.0.5:40000;branch=z9hG4bKabc;rport', 'SIP/2.0/UDP 10.9.9.9:5080;branch=z9hG4bKdown']);
  });

  it('leaves a message without Content-Length without one', () => {
    const out = rewriteMessage(Buffer.from('OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n\r\n'), { callIdSuffix: 'b' });
    expect(out.toString()).toBe('OPTIONS sip:x SIP/2.0\r\nCall-ID: ab\r\nCSeq: 1 OPTIONS\r\n\r\n');
  });
});

describe('messageKey', () => {
  it('gives a request and its response the same key', () => {
    const req = messageKey(Buffer.from(INVITE, 'latin1'))!;
    const resp = messageKey(Buffer.from('SIP/2.0 180 Ringing\r\ni: call-1@10.1.1.1\r\nCSeq: 1 INVITE\r\n\r\n'))!;
    expect(req.isRequest).toBe(true);
    expect(resp.isRequest).toBe(false);
    expect(resp.status).toBe(180);
    expect(resp.key).toBe(req.key);
    const cancel = messageKey(Buffer.from('SIP/2.0 200 OK\r\nCall-ID: call-1@10.1.1.1\r\nCSeq: 1 CANCEL\r\n\r\n'))!;
    expect(cancel.key).not.toBe(req.key);
    expect(messageKey(Buffer.from('SIP/2.0 200 OK\r\nCSeq: 1 CANCEL\r\n\r\n'))).toBeNull();
  });
});
