/**
 * The embedded PostgreSQL the service falls back to when no database URL is configured:
 * PGlite (PostgreSQL compiled to WebAssembly, in this process) served on a loopback TCP socket,
 * so the store, the job scheduler and the admin tools all talk to it with the ordinary `pg`
 * driver and the same SQL as a real server.
 *
 * Several connections are served at once through PgliteWireServer, which keeps transactions
 * and LISTEN/NOTIFY correct on PGlite's single backend (see that file for the limits), so
 * openStore can use a normal pool size here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import { PgliteWireServer } from './pglite-wire-server.js';

export interface EmbeddedPostgres {
  /** postgres:// URL of the served database. */
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Directory kept across restarts; null = in memory, gone when stopped. */
  dataDir: string | null;
  host: string;
  /** 0 = pick a free port. */
  port: number;
  logger?: Logger;
}

const LOCK_FILE = 'embedded.lock';

/**
 * PostgreSQL's default 128 MB of shared buffers is resident WebAssembly memory in PGlite; the
 * service's database is a few MB, so 16 MB holds all of it and saves ~110 MB of RSS.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Runs in a short-lived child process: creating a cluster (initdb, a second WebAssembly
 * instance) leaves ~450 MB resident that the process never gets back, so the service only
 * opens clusters. argv: PGlite module URL, data directory or "", dump file or "".
 */
const CREATE_CLUSTER_SCRIPT = `
const [url, dataDir, dumpPath] = process.argv.slice(1);
const mod = await import(url);
const PGlite = mod.PGlite ?? mod.default.PGlite;
const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
if (dumpPath) {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(dumpPath, Buffer.from(await (await db.dumpDataDir('none')).arrayBuffer()));
}
await db.close();
`;

/**
 * A freshly initialised cluster (dumped by a child process), kept after the first in-memory
 * start: initdb is the slow part (seconds), loading this copy takes under one, which matters for
 * test suites that each start their own database.
 */
let pristineCluster: Promise<Blob> | null = null;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = opts.dataDir === null ? null : path.resolve(opts.dataDir);
  const releaseLock = dataDir ? await lockDataDir(dataDir) : async () => {};

  let db: PGlite;
  try {
    db = dataDir ? await openDataDir(dataDir) : await createInMemory();
  } catch (e) {
    await releaseLock();
    throw new AppError('unavailable', `The embedded database could not start: ${(e as Error).message}`);
  }

  const server = new PgliteWireServer(db, { logger: opts.logger });
  let port: number;
  try {
    port = await server.listen(opts.port, opts.host);
  } catch (e) {
    await db.close().catch(() => undefined);
    await releaseLock();
    const code = (e as { code?: string }).code;
    throw new AppError(
      'unavailable',
      code === 'EADDRINUSE'
        ? `The embedded database cannot listen on ${opts.host}:${opts.port}: the port is in use. Choose another database.embedded.port or 0.`
        : `The embedded database cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`,
    );
  }

  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `postgres://postgres@${host}:${port}/postgres`;
  opts.logger?.info({ dataDir: dataDir ?? 'memory', host: opts.host, port }, 'embedded database started');

  let stopping: Promise<void> | null = null;
  return {
    url,
    stop() {
      stopping ??= (async () => {
        await server.close();
        // A clean close checkpoints, so a persistent directory reopens without recovery.
        await db.close();
        await releaseLock();
        opts.logger?.info({ dataDir: dataDir ?? 'memory' }, 'embedded database stopped');
      })();
      return stopping;
    },
  };
}

async function openDataDir(dataDir: string): Promise<PGlite> {
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await createCluster(dataDir, null);
  return PGlite.create({ dataDir, startParams: START_PARAMS });
}

async function createInMemory(): Promise<PGlite> {
  pristineCluster ??= dumpFreshCluster();
  try {
    return await PGlite.create({ loadDataDir: await pristineCluster, startParams: START_PARAMS });
  } catch (e) {
    pristineCluster = null; // the next start creates it again
    throw e;
  }
}

async function dumpFreshCluster(): Promise<Blob> {
  const dir = await mkdtemp(path.join(tmpdir(), 'knock-pglite-'));
  try {
    const dumpPath = path.join(dir, 'cluster.tar');
    await createCluster(null, dumpPath);
    return new Blob([await readFile(dumpPath)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Creates a cluster in a child process (see CREATE_CLUSTER_SCRIPT). */
async function createCluster(dataDir: string | null, dumpPath: string | null): Promise<void> {
  // createRequire, not import.meta.resolve: the test runner's loader lacks the latter.
  const moduleUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  try {
    await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', CREATE_CLUSTER_SCRIPT, moduleUrl, dataDir ?? '', dumpPath ?? ''],
      { timeout: 120_000, maxBuffer: 4 * 1024 * 1024 },
    );
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '').trim().split('\n').slice(-3).join(' ');
    throw new Error(`creating the database cluster failed: ${stderr || (e as Error).message}`);
  }
}

/**
 * PGlite has no postmaster.pid: two processes opening one directory would corrupt it. A lock
 * file with our pid refuses a second opener; a lock left by a dead process is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  await mkdir(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        await rm(lockPath, { force: true });
      };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new AppError(
          'unavailable',
          `The embedded database in ${dataDir} is in use by process ${holder}. Stop it, or configure a PostgreSQL server (DATABASE_URL) to run several instances.`,
        );
      }
      await rm(lockPath, { force: true });
    }
  }
  throw new AppError('unavailable', `The embedded database in ${dataDir} could not be locked; try again.`);
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}
