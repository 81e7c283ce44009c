import assert from 'node:assert/strict';
import { AppError } from '../../src/domain/errors.js';
import { hashPin, validatePinFormat } from '../../src/security/pin.js';
import { verifyPassword } from '../../src/security/passwords.js';

function refused(pin: string, minLength = 6): AppError {
  try {
    validatePinFormat(pin, minLength);
  } catch (e) {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, 'validation_failed');
    return e;
  }
  assert.fail(`PIN ${pin} was accepted`);
}

describe('security/pin format', () => {
  it('accepts ordinary PINs of at least the minimum length', () => {
    for (const pin of ['482913', '0504199', '739201', '1357924680']) validatePinFormat(pin, 6);
    validatePinFormat('4829', 4);
  });

  it('refuses PINs that are too short, not digits, or absurdly long', () => {
    assert.match(refused('48291').message, /at least 6 digits/);
    assert.match(refused('48a913').message, /digits only/);
    assert.match(refused('48 913').message, /digits only/);
    assert.match(refused('').message, /digits only/);
    refused('4'.repeat(10) + '8291384756192837465019283746');
  });

  it('refuses a single repeated digit', () => {
    assert.match(refused('000000').message, /single digit/);
    assert.match(refused('7777777').message, /single digit/);
  });

  it('refuses runs of consecutive digits, up or down, also wrapping past 9', () => {
    for (const pin of ['123456', '654321', '012345', '890123', '3210987']) {
      assert.match(refused(pin).message, /consecutive/, pin);
    }
  });

  it('refuses two-digit patterns', () => {
    assert.match(refused('121212').message, /two-digit pattern/);
    assert.match(refused('9090909').message, /two-digit pattern/);
  });

  it('hashes PINs with the slow password hash', async () => {
    const stored = await hashPin('482913', { N: 1024, r: 8, p: 1 });
    assert.match(stored, /^scrypt\$/);
    assert.equal(await verifyPassword('482913', stored), true);
    assert.equal(await verifyPassword('482914', stored), false);
  });
});
