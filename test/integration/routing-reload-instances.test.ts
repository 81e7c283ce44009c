/**
 * Routing reloads as operators run them, on service processes (`node src/main.ts`) sharing one
 * database: SIGHUP reloads one process's file; the admin API's reload on one instance reloads
 * every instance (each its own file) over LISTEN/NOTIFY and says what each runs; a broken file
 * is refused with its positions and the routing in force stays. SIP is on but no drachtio-server
 * answers (the routing does not need one), so this runs without the SIP servers.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createApiKey } from '../../src/flows/directory.js';
import { freePort } from '../support/drachtio-server.js';
import { serviceProcess, type ServiceProcess } from '../support/service-process.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { waitFor } from '../support/wait-for.js';

const V1 = 'extensions:\n  "2000":\n    agent: anna\n';
const V2 = 'extensions:\n  "2000":\n    agent: anna\n  "2200":\n    agent: ben\n';
const V3 = 'extensions:\n  "2200":\n    agent: ben\n    name: Ben direct\n  "2300":\n    agent: carl\n';
const BROKEN = 'extensions:\n  "2000":\n    agent: anna\n  "2200":\n    group: nowhere\n';

const version = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

describe('routing reload: SIGHUP and the admin API across two service processes', function () {
  this.timeout(120_000);
  let svc: TestService;
  let dir: string;
  let key: string;
  const files = { a: '', b: '' };
  const procs: Record<'a' | 'b', ServiceProcess | null> = { a: null, b: null };

  before(async () => {
    svc = await startTestService();
    key = (await createApiKey(svc.service.deps, 'routing-ops', ['admin'])).key;
    dir = mkdtempSync(join(tmpdir(), 'knock-routing-reload-'));
    for (const name of ['a', 'b'] as const) {
      files[name] = join(dir, `${name}.yaml`);
      writeFileSync(files[name], V1);
      procs[name] = await serviceProcess({
        DATABASE_URL: svc.db.url,
        KNOCK_SERVER__INSTANCE_NAME: `routing-${name}`,
        KNOCK_SIP__ENABLED: 'true',
        // Nothing listens there: the SIP and media connections keep retrying, routing works.
        KNOCK_SIP__DRACHTIO__PORT: String(await freePort()),
        KNOCK_SIP__REQUIRED_FOR_READINESS: 'false',
        KNOCK_MEDIA__FREESWITCH__PORT: String(await freePort()),
        KNOCK_MEDIA__OUTBOUND_SOCKET__PORT: String(await freePort()),
        KNOCK_SIP__ROUTING_FILE: files[name],
      });
    }
    await Promise.all([procs.a!.start(), procs.b!.start()]);
    // Both beat in service_instances (the reload waits for the live ones' answers).
    await waitFor('both instances to beat', async () => (await svc.service.deps.store.instances.alive(60)).length === 2);
  });

  after(async () => {
    await procs.a?.stop();
    await procs.b?.stop();
    await svc?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ready = async (p: ServiceProcess) => (await (await fetch(`${p.url}/readyz`)).json()) as { routing?: { version: string; loadedAt: string } };
  const reload = async (p: ServiceProcess) => {
    const res = await fetch(`${p.url}/api/v1/routing/reload`, { method: 'POST', headers: { 'x-api-key': key } });
    return { status: res.status, body: (await res.json()) as any };
  };
  const audits = async (file: string) => (await svc.service.deps.store.audit.list({ subject: `routing:${file}`, limit: 1000 })).filter((e) => e.action === 'routing.reload');

  it('shows the version in force in /readyz and GET /api/v1/routing (admin only)', async () => {
    const a = await ready(procs.a!);
    assert.equal(a.routing?.version, version(V1));
    assert.ok(Date.parse(a.routing!.loadedAt) > Date.now() - 120_000);
    const get = await fetch(`${procs.a!.url}/api/v1/routing`, { headers: { 'x-api-key': key } });
    assert.equal(get.status, 200);
    const body = (await get.json()) as any;
    assert.deepEqual({ ...body, loadedAt: undefined }, { instance: 'routing-a', version: version(V1), loadedAt: undefined, file: files.a, extensions: 1, groups: 0, featureCodes: [] });
    // Without the admin permission: no.
    assert.equal((await fetch(`${procs.a!.url}/api/v1/routing/reload`, { method: 'POST' })).status, 401);
  });

  it('SIGHUP reloads that process only; a broken file is refused and the routing in force stays', async () => {
    writeFileSync(files.a, V2);
    procs.a!.signal('SIGHUP');
    await waitFor('a to run V2', async () => (await ready(procs.a!)).routing?.version === version(V2));
    assert.equal((await ready(procs.b!)).routing?.version, version(V1), 'SIGHUP is for one process');
    const [entry] = (await audits(files.a)).filter((e) => e.data.version === version(V2));
    assert.equal(entry?.actor, 'signal:SIGHUP');
    assert.equal(entry?.decision, 'allow');
    assert.match(entry!.reason, /numbers?: 1 added \(2200\)/);
    assert.deepEqual((entry!.data.changes as any).extensions, { added: ['2200'], removed: [], changed: [] });

    writeFileSync(files.a, BROKEN);
    procs.a!.signal('SIGHUP');
    await waitFor('the refusal to be logged', () => procs.a!.logs().includes('routing reload refused'));
    assert.equal((await ready(procs.a!)).routing?.version, version(V2));
    const refused = (await audits(files.a)).find((e) => e.decision === 'deny');
    assert.deepEqual(refused?.data.problems, [`${files.a}:5:5: extensions.2200.group: no group 'nowhere' defined`]);
    // One log line per reload.
    assert.equal(procs.a!.logs().split('\n').filter((l) => l.includes('"routing reloaded"')).length, 1);
  });

  it('the admin API on one instance refuses a broken file with 422 and its positions, and tells no other instance', async () => {
    const r = await reload(procs.a!);
    assert.equal(r.status, 422);
    assert.equal(r.body.code, 'routing_invalid');
    assert.deepEqual(r.body.problems, [`${files.a}:5:5: extensions.2200.group: no group 'nowhere' defined`]);
    assert.equal(r.body.active.version, version(V2));
    assert.equal((await ready(procs.a!)).routing?.version, version(V2));
    assert.equal((await ready(procs.b!)).routing?.version, version(V1));
  });

  it('the admin API on one instance reloads every instance, each from its own file, and says what each runs', async () => {
    writeFileSync(files.a, V3);
    writeFileSync(files.b, V3);
    const r = await reload(procs.a!);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.instance, 'routing-a');
    assert.equal(r.body.status, 'reloaded');
    assert.equal(r.body.active.version, version(V3));
    assert.equal(r.body.previousVersion, version(V2));
    assert.deepEqual(r.body.changes.extensions, { added: ['2300'], removed: ['2000'], changed: ['2200'] });
    assert.deepEqual(r.body.notAnswered, []);
    assert.deepEqual(
      r.body.instances.map((i: any) => ({ instance: i.instance, status: i.status, version: i.version })),
      [{ instance: 'routing-b', status: 'reloaded', version: version(V3) }],
    );
    assert.equal((await ready(procs.b!)).routing?.version, version(V3));
    // Each instance audited its own reload, naming who asked.
    const onB = (await audits(files.b)).find((e) => e.data.version === version(V3));
    assert.equal(onB?.actor, 'apikey:routing-ops');
    assert.equal(onB?.data.instance, 'routing-b');
    assert.equal(onB?.data.origin, 'routing-a');
    assert.deepEqual((onB!.data.changes as any).extensions, { added: ['2200', '2300'], removed: ['2000'], changed: [] });
    // The metrics show the version in force.
    const metricsLine = procs.b!.logs().split('\n').find((l) => l.includes('"metrics listening"'));
    const metricsUrl = (JSON.parse(metricsLine!) as { url: string }).url;
    const text = await (await fetch(metricsUrl)).text();
    assert.match(text, new RegExp(`knock_routing_info\\{version="${version(V3)}",file="[^"]+"\\} 1`));
    assert.match(text, /knock_routing_reloads_total\{result="reloaded"\} 1/);
  });

  it('an instance whose own file is broken keeps its routing and says so in the answer', async () => {
    writeFileSync(files.a, V2);
    writeFileSync(files.b, BROKEN);
    const r = await reload(procs.a!);
    assert.equal(r.status, 200);
    assert.equal(r.body.active.version, version(V2));
    const b = r.body.instances.find((i: any) => i.instance === 'routing-b');
    assert.equal(b.status, 'refused');
    assert.equal(b.version, version(V3));
    assert.deepEqual(b.problems, [`${files.b}:5:5: extensions.2200.group: no group 'nowhere' defined`]);
    assert.equal((await ready(procs.b!)).routing?.version, version(V3));
  });
  it('an instance whose LISTEN connection was cut (a database restart) reconnects and is reached again', async () => {
    const db = new pg.Client({ connectionString: svc.db.url });
    await db.connect();
    try {
      const cut = await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN knock_routing%'`);
      assert.equal(cut.rowCount, 2, 'both instances listen');
    } finally {
      await db.end();
    }
    await waitFor('b to listen again', () => procs.b!.logs().includes('LISTEN connection back'));
    writeFileSync(files.b, V1);
    const r = await reload(procs.a!);
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.instances.map((i: any) => ({ instance: i.instance, status: i.status, version: i.version })),
      [{ instance: 'routing-b', status: 'reloaded', version: version(V1) }],
    );
  });
});
