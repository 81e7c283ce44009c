/**
 * The development compose file is valid and brings up what the README says: `docker compose
 * config` (or the standalone docker-compose) resolves it, with the official drachtio-server and
 * FreeSWITCH images, this repository's configuration mounted, and Knock on its embedded database
 * with the demo data. Skips with one line without a docker CLI that has compose.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { skipWhenMissing } from '../support/skip-when-missing.js';

const FILE = resolve('docker/compose.dev.yaml');

/** The compose command found here: `docker compose`, else `docker-compose`, else null. */
function composeCommand(): string[] | null {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const res = spawnSync(cmd[0]!, [...cmd.slice(1), 'version'], { encoding: 'utf8', timeout: 20_000 });
    if (!res.error && res.status === 0) return cmd;
  }
  return null;
}

describe('development compose file', function () {
  this.timeout(60_000);

  it('resolves with docker compose config: official images, the repository configuration, demo data', function () {
    const compose = composeCommand();
    skipWhenMissing(this, compose ? null : 'docker compose check skipped: no docker CLI with compose (docker compose or docker-compose)');
    const res = spawnSync(compose![0]!, [...compose!.slice(1), '-f', FILE, 'config'], { encoding: 'utf8', timeout: 50_000 });
    assert.equal(res.status, 0, `${res.stderr}${res.stdout}`);
    const config = parse(res.stdout) as { services: Record<string, any> };
    assert.deepEqual(Object.keys(config.services).sort(), ['drachtio', 'freeswitch', 'knock']);
    assert.match(config.services.drachtio.image, /^drachtio\/drachtio-server:/);
    assert.match(config.services.freeswitch.image, /^drachtio\/drachtio-freeswitch-mrf:/);
    const mounts = (s: any) => JSON.stringify(s.volumes ?? []);
    assert.match(mounts(config.services.drachtio), /drachtio\/drachtio\.conf\.xml/);
    assert.match(mounts(config.services.freeswitch), /freeswitch/);
    const knock = config.services.knock;
    assert.match(JSON.stringify(knock.build), /docker\/Dockerfile/);
    assert.equal(knock.environment.DATABASE_URL, undefined, 'the embedded database, which loads the demo data');
    assert.equal(String(knock.environment.KNOCK_DEMO__LOAD_ON_FIRST_START), 'true');
  });
});
