/**
 * The README's way to run the whole stack locally works: drachtio-server started on the
 * repository's drachtio/drachtio.conf.xml (only the ports moved, on the command line, so suites
 * can run side by side) takes Knock's default admin secret, and the service connects to it.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { drachtioAvailable, freePort } from '../support/drachtio-server.js';
import { serverProcess } from '../support/server-process.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { startTestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

describe('running the whole stack locally (README)', function () {
  this.timeout(60_000);

  it('drachtio-server runs on drachtio/drachtio.conf.xml and the service connects with its default secret', async function () {
    skipWhenMissing(this, drachtioAvailable());
    const [admin, sip, ws] = [await freePort(), await freePort({ udp: true }), await freePort()];
    const drachtio = serverProcess('drachtio-server', () => process.env.DRACHTIO_BIN || 'drachtio', [
      '-f', 'drachtio/drachtio.conf.xml',
      '--port', String(admin),
      '--contact', `sip:127.0.0.1:${sip};transport=udp,tcp`,
      '--contact', `sip:127.0.0.1:${ws};transport=ws`,
    ]);
    await drachtio.start(async () => (await accepts(admin)) && (await accepts(ws)), 15_000);
    // Only the port differs from the defaults: host 127.0.0.1 and secret "cymru" come from the file.
    const svc = await startTestService({ KNOCK_SIP__ENABLED: 'true', KNOCK_SIP__DRACHTIO__PORT: String(admin), KNOCK_SIP__WS_URL: `ws://127.0.0.1:${ws}` });
    try {
      await waitFor('SIP up in /readyz', async () => (await svc.call('GET', '/readyz')).body.components?.sip === 'up');
      assert.ok(svc.logs.some((l) => l.includes(`connected to drachtio-server at 127.0.0.1:${admin}`)));
    } finally {
      await svc.stop();
      await drachtio.stop((p) => p.kill('SIGTERM'), 5000);
    }
  });
});
