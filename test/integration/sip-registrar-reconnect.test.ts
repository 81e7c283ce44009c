/**
 * drachtio-server goes away and comes back: the HTTP API stays up, readiness says SIP is down
 * (503, unless SIP is configured as not required), the application reconnects by itself, and
 * desk phones can register again.
 */
import assert from 'node:assert/strict';
import { createAgent } from '../../src/flows/directory.js';
import { freePort } from '../support/drachtio-server.js';
import { sipSkipReason, startSipTestEnv, type SipTestEnv } from '../support/sip-test-env.js';
import { runSipp } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { startTestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

const PASSWORD = 'desk-phone-secret-1';

describe('SIP: drachtio-server restart', function () {
  let env: SipTestEnv;

  before(async function () {
    skipWhenMissing(this, sipSkipReason());
    env = await startSipTestEnv();
    await createAgent(env.svc.service.deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: PASSWORD, groups: [] });
  });

  after(async () => {
    await env?.stop();
  });

  const readiness = async () => {
    const r = await env.svc.call('GET', '/readyz');
    return { status: r.status, sip: r.body.components?.sip as string | undefined };
  };
  const register = () =>
    runSipp({ scenario: 'register-ok', remote: env.remote, timeoutMs: 10_000, vars: { user: '1001', expires: '600' }, extraArgs: ['-au', '1001', '-ap', PASSWORD] });

  it('reports SIP down while drachtio-server is gone, reconnects when it is back, and registration works again', async () => {
    assert.deepEqual(await readiness(), { status: 200, sip: 'up' });
    await register();

    await env.drachtio.kill();
    const down = await waitFor('readiness to show sip down', async () => {
      const r = await readiness();
      return r.sip === 'down' ? r : null;
    });
    // SIP is required for readiness by default: the instance says it cannot serve.
    assert.equal(down.status, 503);
    assert.ok(env.svc.logs.some((l) => l.includes('lost the connection to drachtio-server')));

    await env.drachtio.restart();
    await waitFor('the service to reconnect', async () => (await readiness()).sip === 'up', 20_000);
    await env.svc.service.deps.store.registrations.removeAll('1001');
    await register();
    assert.equal((await env.svc.service.deps.store.registrations.list('1001', new Date())).length, 1);
  });
});

describe('SIP: no drachtio-server at start-up', () => {
  it('starts anyway, says drachtio-server is unreachable, and is not ready (503, sip down)', async () => {
    const port = await freePort();
    const svc = await startTestService({ KNOCK_SIP__ENABLED: 'true', KNOCK_SIP__DRACHTIO__PORT: String(port) });
    try {
      const r = await svc.call('GET', '/readyz');
      assert.equal(r.status, 503, r.text);
      assert.equal(r.body.status, 'unready');
      assert.equal(r.body.components.sip, 'down');
      assert.equal(r.body.components.database, 'up');
      // The HTTP API itself still answers.
      assert.equal((await svc.call('GET', '/healthz')).status, 200);
      const warning = `drachtio-server is not reachable at 127.0.0.1:${port}`;
      await waitFor('the unreachable warning', () => svc.logs.some((l) => l.includes(warning)));
      // Then quiet: it keeps retrying, but says so once per outage (a debug line per attempt).
      await waitFor('a few more attempts', () => svc.logs.filter((l) => l.includes('drachtio-server connection attempt failed')).length >= 2, 15_000);
      assert.equal(svc.logs.filter((l) => l.includes(warning)).length, 1);
      assert.match(svc.logs.find((l) => l.includes(warning))!, /no calls or desk phones until it is; retrying quietly.*sip\.enabled=false/);
    } finally {
      await svc.stop();
    }
  });

  it('stays ready, shown as degraded, when SIP is configured as not required for readiness', async () => {
    const port = await freePort();
    const svc = await startTestService({ KNOCK_SIP__ENABLED: 'true', KNOCK_SIP__REQUIRED_FOR_READINESS: 'false', KNOCK_SIP__DRACHTIO__PORT: String(port) });
    try {
      const r = await svc.call('GET', '/readyz');
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'degraded');
      assert.equal(r.body.components.sip, 'down');
    } finally {
      await svc.stop();
    }
  });
});
