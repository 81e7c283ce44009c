/**
 * drachtio-server's log with the production settings (docker/compose.yaml's --loglevel and
 * --sofia-loglevel): a customer INVITE carrying a Bearer token and a device proof, and a desk
 * phone REGISTER with digest credentials, leave none of those credentials in it. The same
 * messages at `--loglevel info` do end up there, which is why production must not run at info.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { startDrachtio, type DrachtioServer } from '../support/drachtio-server.js';
import { sipSkipReason } from '../support/sip-test-env.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

type LogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';

function productionLogLevels(): { logLevel: LogLevel; sofiaLogLevel: number } {
  const compose = readFileSync(new URL('../../docker/compose.yaml', import.meta.url), 'utf8');
  const level = /--loglevel\s+(\w+)/.exec(compose)?.[1];
  const sofia = /--sofia-loglevel\s+(\d+)/.exec(compose)?.[1];
  assert.ok(level && sofia, 'docker/compose.yaml sets --loglevel and --sofia-loglevel for drachtio-server');
  return { logLevel: level as LogLevel, sofiaLogLevel: Number(sofia) };
}

/** Sends one request over UDP and resolves with the first final response's status line. */
function sendUdp(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error('no final response'));
    }, 5000);
    sock.on('message', (m) => {
      const line = m.toString('utf8').split('\r\n')[0]!;
      if (/^SIP\/2\.0 [2-6]/.test(line)) {
        clearTimeout(timer);
        sock.close();
        resolve(line);
      }
    });
    sock.bind(0, '127.0.0.1', () => {
      const local = sock.address().port;
      sock.send(message.replaceAll('LOCALPORT', String(local)), port, '127.0.0.1');
    });
  });
}

const secrets = {
  token: `eyJtoken${randomBytes(12).toString('hex')}`,
  proof: `proof${randomBytes(12).toString('hex')}`,
  digest: `digest${randomBytes(12).toString('hex')}`,
};

function invite(port: number): string {
  const body = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n';
  return [
    `INVITE sip:agent@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    `From: <sip:app@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:agent@127.0.0.1>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@127.0.0.1`,
    'CSeq: 1 INVITE',
    'Contact: <sip:app@127.0.0.1:LOCALPORT>',
    `Authorization: Bearer ${secrets.token}`,
    `Knock-Device-Proof: ${secrets.proof}`,
    'Max-Forwards: 70',
    'Content-Type: application/sdp',
    `Content-Length: ${body.length}`,
    '',
    body,
  ].join('\r\n');
}

function register(port: number): string {
  return [
    `REGISTER sip:127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    `From: <sip:1001@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:1001@127.0.0.1>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@127.0.0.1`,
    'CSeq: 1 REGISTER',
    'Contact: <sip:1001@127.0.0.1:LOCALPORT>',
    `Authorization: Digest username="1001", realm="knock.localhost", nonce="abc", uri="sip:127.0.0.1:${port}", response="${secrets.digest}", algorithm=MD5`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

describe("drachtio-server's log keeps no credentials (production log levels)", function () {
  this.timeout(60_000);

  const run = async (levels: { logLevel: LogLevel; sofiaLogLevel: number }): Promise<string> => {
    const drachtio: DrachtioServer = await startDrachtio(levels);
    let svc: TestService | null = null;
    try {
      svc = await startTestService({
        KNOCK_SIP__ENABLED: 'true',
        KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
        KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
      });
      await waitFor('the service to connect to drachtio-server', () => svc!.service.sip!.isConnected(), 15_000);
      await sendUdp(drachtio.sipPort, invite(drachtio.sipPort));
      await sendUdp(drachtio.sipPort, register(drachtio.sipPort));
      await new Promise((r) => setTimeout(r, 300));
      return drachtio.logs();
    } finally {
      await svc?.stop();
      await drachtio.stop();
    }
  };

  before(function () {
    skipWhenMissing(this, sipSkipReason());
  });

  it('at the levels docker/compose.yaml sets, neither the token, the device proof nor the digest response is logged', async () => {
    const logs = await run(productionLogLevels());
    for (const [name, value] of Object.entries(secrets)) assert.ok(!logs.includes(value), `${name} found in drachtio-server's log`);
  });

  it('at --loglevel info they would be (the setting production must not use)', async () => {
    const logs = await run({ logLevel: 'info', sofiaLogLevel: 3 });
    assert.ok(logs.includes(secrets.token), 'at info, drachtio-server logs whole SIP messages');
  });
});
