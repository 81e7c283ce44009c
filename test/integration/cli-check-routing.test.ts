/**
 * `npm run admin -- check-routing [FILE]`, run as the engineer runs it (a process of its own,
 * no database): a valid file gets exit 0 and a one-line summary, a broken one every problem with
 * its file:line:column and the exit status the service's start-up gives the same file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function admin(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const BROKEN = `extensions:
  "2000":
    group: sales
  "x1":
    agent: bob
groups:
  support:
    strategy: random
featureCodes:
  "*88":
    action: dance
`;

describe('admin CLI: check-routing', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'knock-check-routing-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the shipped file (the configured one by default) with a one-line summary', async () => {
    const r = await admin(['check-routing']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config\/routing\.yaml: OK, version [0-9a-f]{16}: 3 numbers, 2 groups, 2 feature codes \(\*88, \*89\)\n$/);
  });

  it('checks the file named, and the configured one when KNOCK_SIP__ROUTING_FILE names another', async () => {
    const file = join(dir, 'small.yaml');
    writeFileSync(file, 'extensions:\n  "2000":\n    group: support\ngroups:\n  support:\n    strategy: ring_all\n');
    const named = await admin(['check-routing', file]);
    assert.equal(named.code, 0, named.stderr);
    assert.match(named.stdout, /: OK, version [0-9a-f]{16}: 1 number, 1 group, 0 feature codes\n$/);
    const configured = await admin(['check-routing'], { KNOCK_SIP__ROUTING_FILE: file });
    assert.equal(configured.stdout, named.stdout);
  });

  it('lists every problem of a broken file with file:line:column, in file order, and exits 78 as start-up does', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, BROKEN);
    const r = await admin(['check-routing', file]);
    assert.equal(r.code, 78);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines[0], 'The routing file has 4 problem(s):');
    assert.deepEqual(lines.slice(1), [
      `${file}:3:5: extensions.2000.group: no group 'sales' defined`,
      `${file}:4:3: extensions.x1: a number is 2–15 digits (quote it to keep leading zeros: "0100")`,
      `${file}:8:5: groups.support.strategy: must be one of longest_idle, in_order, ring_all`,
      `${file}:11:5: featureCodes.*88.action: must be knock or next_callback`,
    ]);
  });

  it('reports a YAML syntax error with its position', async () => {
    const file = join(dir, 'syntax.yaml');
    writeFileSync(file, 'extensions:\n  "2000":\n    group: support\n   name: [unclosed\n');
    const r = await admin(['check-routing', file]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: YAML: `));
  });

  it('says when the file cannot be read, and refuses extra arguments', async () => {
    const missing = join(dir, 'missing.yaml');
    const r = await admin(['check-routing', missing]);
    assert.equal(r.code, 78);
    assert.match(r.stderr, new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read the routing file \\(ENOENT\\)`));
    const extra = await admin(['check-routing', missing, 'other.yaml']);
    assert.equal(extra.code, 64);
    assert.match(extra.stderr, /Usage: npm run admin -- check-routing \[FILE\]/);
  });
});
