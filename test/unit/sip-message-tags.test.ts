/**
 * From/To tags and URIs read by the RFC 3261 grammar: a tag is a header parameter (after the `>`
 * of a name-addr, after the URI of an addr-spec), never text in the display name or the URI.
 */
import assert from 'node:assert/strict';
import { addrSpec, tagOf } from '../../src/sip/sip-message.js';

describe('SIP From/To tags and URIs', () => {
  it('finds the tag after the name-addr, not one written in the display name', () => {
    assert.equal(tagOf('"Anna;tag=evil" <sip:1001@knock.localhost>;tag=real'), 'real');
    assert.equal(tagOf('"Anna;tag=evil" <sip:1001@knock.localhost>'), null);
  });

  it('does not take a tag from inside the URI', () => {
    assert.equal(tagOf('<sip:app;tag=evil@knock.localhost>;tag=real'), 'real');
    assert.equal(tagOf('<sip:app@knock.localhost;tag=evil>'), null);
  });

  it('reads the parameters after an addr-spec without brackets as header parameters', () => {
    assert.equal(tagOf('sip:app@knock.localhost;tag=abc'), 'abc');
    assert.equal(tagOf('sip:app@knock.localhost'), null);
  });

  it('accepts any case and whitespace around the semicolon, and refuses an empty or quoted tag', () => {
    assert.equal(tagOf('Anna <sip:1001@h> ;TAG=x1;foo=bar'), 'x1');
    assert.equal(tagOf('<sip:1001@h>;tag='), null);
    assert.equal(tagOf('<sip:1001@h>;tag="q"'), null);
    assert.equal(tagOf(''), null);
    assert.equal(tagOf(undefined), null);
    assert.equal(tagOf('garbage<'), null);
  });

  it('reads the URI past a display name holding < or ;', () => {
    assert.equal(addrSpec('"a <sip:evil@x>;" <sip:1001@knock.localhost>;tag=1'), 'sip:1001@knock.localhost');
    assert.equal(addrSpec('sip:1001@knock.localhost;tag=1'), 'sip:1001@knock.localhost');
    assert.equal(addrSpec('<sip:1001@knock.localhost;transport=tcp>;expires=60'), 'sip:1001@knock.localhost;transport=tcp');
  });
});
