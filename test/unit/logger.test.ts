/** A person at a terminal reads lines, a log collector gets JSON: log.format auto, pretty, json. */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/runtime/logger.js';

function capture(isTTY: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out: out as unknown as NodeJS.WriteStream, text: () => text };
}

describe('logger format', () => {
  it('writes readable lines to a terminal with log.format auto', () => {
    const tty = capture(true);
    createLogger({ log: { level: 'info', format: 'auto' } }, tty.out).info({ port: 8080 }, 'HTTP API listening');
    const line = tty.text();
    assert.doesNotMatch(line, /^\{/);
    // Local date and time, the level in words, the message, its fields on the lines below.
    assert.match(line.replace(/\x1b\[[0-9;]*m/g, ''), /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] INFO: HTTP API listening\n\s+port: 8080\n/);
  });

  it('writes JSON lines when the output is not a terminal, or when asked', async () => {
    const pipe = capture(false);
    createLogger({ log: { level: 'info', format: 'auto' } }, pipe.out).info({ port: 8080 }, 'HTTP API listening');
    await new Promise((r) => setImmediate(r));
    const entry = JSON.parse(pipe.text());
    assert.equal(entry.msg, 'HTTP API listening');
    assert.equal(entry.port, 8080);
    assert.equal(entry.service, 'knock');
    const pretty = capture(false);
    createLogger({ log: { level: 'info', format: 'pretty' } }, pretty.out).info('hello');
    assert.match(pretty.text(), /INFO: hello/);
    const json = capture(true);
    createLogger({ log: { level: 'info', format: 'json' } }, json.out).info('hello');
    await new Promise((r) => setImmediate(r));
    assert.equal(JSON.parse(json.text()).msg, 'hello');
  });
});
