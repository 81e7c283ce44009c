/**
 * The operator's revocations from the admin CLI (`npm run admin -- revoke-device <id>`,
 * `revoke-api-key <id or name>`), run as a separate process on the real database: effective at
 * once for the running service, and audited.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createApiKey, createCustomer } from '../../src/flows/directory.js';
import { enrollDevice, issueEnrollmentCode } from '../../src/flows/enrollment.js';
import { SoftDeviceKey } from '../support/soft-authenticator.js';
import { startTestService, type TestService } from '../support/test-service.js';

const run = promisify(execFile);

describe('admin CLI: revoking devices and API keys', function () {
  this.timeout(60_000);
  let t: TestService;

  before(async () => {
    t = await startTestService();
  });
  after(async () => t?.stop());

  const admin = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], { env: { ...process.env, DATABASE_URL: t.db.url } }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('revoke-device <id> locks the device out at once and is audited', async () => {
    const deps = t.service.deps;
    const customer = await createCustomer(deps, { name: 'Pia', phone: null, timeZone: null, externalRef: null });
    const { code } = await issueEnrollmentCode(deps, customer.id, 'test');
    const { device, credential } = await enrollDevice(deps, { code, label: 'phone', publicKeyJwk: new SoftDeviceKey().publicJwk, pin: '482916' });
    assert.equal((await t.call('GET', '/api/v1/devices/me', { token: credential })).status, 200);

    const listed = await admin('list-devices', '--customer', customer.id);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(JSON.parse(listed.stdout)[0].id, device.id);

    const revoked = await admin('revoke-device', device.id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.ok(JSON.parse(revoked.stdout).revokedAt);
    assert.equal((await t.call('GET', '/api/v1/devices/me', { token: credential })).status, 401);
    const entries = (await deps.store.audit.list({ subject: `device:${device.id}` })).filter((e) => e.action === 'device.revoke');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.actor, 'cli');

    const unknown = await admin('revoke-device', '00000000-0000-4000-8000-000000000000');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not_found/);
    const missing = await admin('revoke-device');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /revoke-device <device id>/);
  });

  it('revoke-api-key <name> gets the key 401 at once and is audited', async () => {
    const { key } = await createApiKey(t.service.deps, 'billing', ['directory:read']);
    assert.equal((await t.call('GET', '/api/v1/agents', { apiKey: key })).status, 200);
    const revoked = await admin('revoke-api-key', 'billing');
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await t.call('GET', '/api/v1/agents', { apiKey: key })).status, 401);
    const entries = (await t.service.deps.store.audit.list({ subject: 'apikey:billing' })).filter((e) => e.action === 'apikey.revoke');
    assert.equal(entries.length, 1);
    const keys = await admin('list-api-keys');
    assert.ok(!keys.stdout.includes(key));
  });
});
