/** aorKeyHash's ASCII shortcut = the UTF-8 way (farm/keys aorHash) it stands for. */
import { describe, expect, it } from 'vitest';
import { aorHash } from '../../../src/farm/keys.js';
import { aorKeyHash } from '../../../src/proxy/location-service.js';

/** aorKeyHash as written before the shortcut. */
function reference(aor: string): number {
  const colon = aor.indexOf(':');
  const rest = aor.slice(colon + 1);
  const at = rest.lastIndexOf('@');
  return at < 0 ? aorHash('', rest) : aorHash(rest.slice(0, at), rest.slice(at + 1));
}

describe('aorKeyHash', () => {
  it('equals the UTF-8 hash on ASCII, non-ASCII and odd shapes', () => {
    const aors = [
      'sip:service@demo', 'sip:Service@DEMO.example.COM', 'sips:a@b', 'sip:demo', 'sip:', '', 'no-colon@host', '@x:y', 'a@b:c@d',
      'sip:bjørn@example.com', 'sip:a@ÉXAMPLE.com', 'sip:a@b@c', 'tel:+15551234', 'sip:%41lice@h', 'sip:\u{1F600}@h', 'sip:[2001:db8::1]',
    ];
    for (let i = 0; i < 300; i++) aors.push(`sip:user${i}@Host${i % 7}.Example.org`);
    for (const aor of aors) expect(aorKeyHash(aor), aor).toBe(reference(aor));
  });
});
