/**
 * A throwaway PostgreSQL cluster for tests that restart the database under load: initdb into a
 * temporary folder, a free loopback port, pg_ctl start / restart -m fast / stop. As root its
 * commands run as the postgres user (initdb refuses root). `pgClusterSkipReason()` is the one
 * line a suite prints when the binaries are missing.
 *
 * `outage()` is asynchronous on purpose: the service under test runs in the test's own process,
 * and a synchronous restart would freeze it for the whole outage, so it would never see one.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './drachtio-server.js';

function pgBin(): string | null {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a)) : [];
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

/** null when a cluster can be made here; otherwise why not. */
export function pgClusterSkipReason(): string | null {
  return pgBin() ? null : 'database restart tests skipped: initdb/pg_ctl not found under /usr/lib/postgresql';
}

export class PgCluster {
  private constructor(
    private readonly bin: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  /** initdb and start; throws with the command's error when that cannot be done here. */
  static async create(): Promise<PgCluster> {
    const bin = pgBin();
    if (!bin) throw new Error('initdb/pg_ctl not found under /usr/lib/postgresql');
    const dir = mkdtempSync(join(tmpdir(), 'knock-pg-'));
    const c = new PgCluster(bin, dir, await freePort());
    if (process.getuid?.() === 0) chmodSync(dir, 0o777);
    c.run(`${bin}/initdb -D ${dir}/data -U postgres --auth=trust -E UTF8 >/dev/null`);
    c.start();
    return c;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  private run(cmd: string): void {
    if (process.getuid?.() === 0) execFileSync('su', ['postgres', '-s', '/bin/bash', '-c', cmd], { stdio: 'pipe' });
    else execFileSync('/bin/bash', ['-c', cmd], { stdio: 'pipe' });
  }

  private opts(): string {
    return `-o '-h 127.0.0.1 -p ${this.port} -k ${this.dir} -c max_connections=200 -c fsync=off'`;
  }

  start(): void {
    this.run(`${this.bin}/pg_ctl -D ${this.dir}/data -l ${this.dir}/log -w ${this.opts()} start >/dev/null`);
  }

  restart(): void {
    this.run(`${this.bin}/pg_ctl -D ${this.dir}/data -l ${this.dir}/log -w -m fast ${this.opts()} restart >/dev/null`);
  }

  /**
   * Stops the cluster (fast: sessions are cut), keeps it down for `downMs`, starts it again,
   * without blocking the event loop; resolves once it accepts connections.
   */
  async outage(downMs: number): Promise<void> {
    await this.stopAsync();
    await new Promise((r) => setTimeout(r, downMs));
    await this.startAsync();
  }

  /** pg_ctl stop -m fast, without blocking the event loop. */
  stopAsync(): Promise<void> {
    return this.runAsync(`${this.bin}/pg_ctl -D ${this.dir}/data -m fast -w stop >/dev/null`);
  }

  /** pg_ctl start, without blocking the event loop; resolves once it accepts connections. */
  startAsync(): Promise<void> {
    return this.runAsync(`${this.bin}/pg_ctl -D ${this.dir}/data -l ${this.dir}/log -w ${this.opts()} start >/dev/null`);
  }

  private async runAsync(cmd: string): Promise<void> {
    if (process.getuid?.() === 0) await promisify(execFile)('su', ['postgres', '-s', '/bin/bash', '-c', cmd]);
    else await promisify(execFile)('/bin/bash', ['-c', cmd]);
  }

  stop(): void {
    this.run(`${this.bin}/pg_ctl -D ${this.dir}/data -m fast -w stop >/dev/null`);
  }

  /** Stops the cluster (if running) and removes its files. */
  destroy(): void {
    try {
      this.stop();
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
