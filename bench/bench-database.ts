/**
 * The database a benchmark part runs on: a throwaway database on a PostgreSQL server (dropped
 * afterwards, so a run leaves nothing behind), or the embedded PGlite one served in this process
 * exactly as `npm start` does when no database URL is configured: in a data directory (a
 * temporary one, removed afterwards), not in memory, whose files would be held in the process's
 * memory and inflate its RSS.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/store/embedded-postgres.js';

export type TargetKind = 'server' | 'embedded';

export interface BenchTarget {
  kind: TargetKind;
  /** postgres:// URL of the server (kind "server" only); a database is created on it. */
  serverUrl?: string;
}

export interface BenchDatabase {
  url: string;
  /** Loopback server whose processes can be watched for CPU time. */
  localServer: boolean;
  drop(): Promise<void>;
}

async function adminQuery(base: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: base });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function openBenchDatabase(target: BenchTarget): Promise<BenchDatabase> {
  if (target.kind === 'embedded') {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'knock-bench-pglite-'));
    const embedded = await startEmbeddedPostgres({ dataDir, host: '127.0.0.1', port: 0 }).catch(async (e: unknown) => {
      await rm(dataDir, { recursive: true, force: true });
      throw e;
    });
    return {
      url: embedded.url,
      localServer: false,
      drop: async () => {
        await embedded.stop();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  }
  if (!target.serverUrl) throw new Error('a server target needs a URL');
  const name = `knock_bench_${randomBytes(6).toString('hex')}`;
  await adminQuery(target.serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(target.serverUrl);
  url.pathname = `/${name}`;
  const host = url.hostname;
  return {
    url: url.toString(),
    localServer: host === '127.0.0.1' || host === 'localhost' || host === '[::1]',
    drop: () => adminQuery(target.serverUrl!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** "PostgreSQL 15.18" of the server behind `url`. */
export async function serverVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const res = await c.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${res.rows[0]?.server_version ?? '?'}`;
  } finally {
    await c.end();
  }
}

/** Settings that change write throughput a lot; worth printing next to the figures. */
export async function durabilitySettings(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string> = {};
    for (const name of ['fsync', 'synchronous_commit', 'shared_buffers', 'max_connections']) {
      const res = await c.query<Record<string, string>>(`SHOW ${name}`);
      out[name] = String(Object.values(res.rows[0] ?? {})[0] ?? '?');
    }
    return out;
  } finally {
    await c.end();
  }
}
