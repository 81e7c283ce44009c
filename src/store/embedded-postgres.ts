/**
 * The embedded PostgreSQL the service falls back to when no database URL is configured:
 * PGlite (PostgreSQL compiled to WebAssembly) served on a loopback TCP socket, so the store, the
 * job scheduler and the admin tools all talk to it with the ordinary `pg` driver and the same SQL
 * as a real server.
 *
 * PGlite and its wire server run in a worker thread of this process (pglite-worker.ts): the
 * backend then has a core of its own instead of taking turns with the service's event loop
 * (with both on one thread, the backend took 55-70 % of it while jobs fired), and the process
 * stays one process, whose resident memory counts both.
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
import v8 from 'node:v8';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { AppError } from '../domain/errors.js';
import { startModuleWorker } from '../runtime/module-worker.js';
import type { PgliteWorkerCommand, PgliteWorkerData, PgliteWorkerEvent } from './pglite-worker.js';

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
let pristineCluster: Promise<Uint8Array> | null = null;

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = opts.dataDir === null ? null : path.resolve(opts.dataDir);
  const releaseLock = dataDir ? await lockDataDir(dataDir) : async () => {};

  let served: { worker: Worker; port: number };
  try {
    let dump: Uint8Array | null = null;
    if (dataDir) {
      if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await createCluster(dataDir, null);
    } else {
      dump = await freshClusterDump();
    }
    served = await startWorker({ dataDir, dump, host: opts.host, port: opts.port }, opts.logger);
  } catch (e) {
    await releaseLock();
    if (e instanceof AppError) throw e;
    throw new AppError('unavailable', `The embedded database could not start: ${(e as Error).message}`);
  }
  const { worker, port } = served;

  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `postgres://postgres@${host}:${port}/postgres`;
  opts.logger?.info({ dataDir: dataDir ?? 'memory', host: opts.host, port }, 'embedded database started');

  let stopping: Promise<void> | null = null;
  return {
    url,
    stop() {
      stopping ??= (async () => {
        await stopWorker(worker);
        await releaseLock();
        opts.logger?.info({ dataDir: dataDir ?? 'memory' }, 'embedded database stopped');
      })();
      return stopping;
    },
  };
}

/**
 * The thread's JavaScript is the wire protocol: short-lived buffers, little that survives. V8's
 * default young generation (up to 16 MB per semi-space) only holds more garbage between
 * collections; 4 MB kept the service ~20 MB smaller (203-221 against 218-250 MB with 10,000
 * callbacks pending) without slowing the scheduler benchmark.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4 };

function newWorker(data: PgliteWorkerData): Worker {
  useBaselineWasmCompiler();
  return startModuleWorker(import.meta.url, 'pglite-worker', { workerData: data, resourceLimits: WORKER_LIMITS });
}

/**
 * PGlite's 9 MB WebAssembly module compiled by V8's optimising tier (TurboFan, for the functions
 * that run often) holds ~50-60 MB more resident code than with the baseline compiler (Liftoff)
 * alone, and a run of a few thousand statements was no faster with it (the compile time eats
 * the gain). The flag is process-wide and only concerns WebAssembly; it is set before the first
 * PGlite module is compiled (V8 reads it when it compiles a module).
 */
function useBaselineWasmCompiler(): void {
  v8.setFlagsFromString('--liftoff-only');
}

/** Starts the worker and waits until it serves (or says why it cannot). */
function startWorker(data: PgliteWorkerData, logger: Logger | undefined): Promise<{ worker: Worker; port: number }> {
  const worker = newWorker(data);
  return new Promise((resolve, reject) => {
    let started = false;
    worker.on('message', (event: PgliteWorkerEvent) => {
      if (event.type === 'listening') {
        started = true;
        resolve({ worker, port: event.port });
      } else if (event.type === 'failed') {
        void worker.terminate();
        reject(
          event.code === 'EADDRINUSE'
            ? new AppError('unavailable', `The embedded database cannot listen on ${data.host}:${data.port}: the port is in use. Choose another database.embedded.port or 0.`)
            : new AppError('unavailable', `The embedded database could not start: ${event.message}`),
        );
      } else if (event.type === 'log') {
        logger?.error({ err: event.err }, event.message);
      }
    });
    worker.on('error', (err) => {
      if (!started) reject(err);
      else logger?.error({ err }, 'embedded database failed');
    });
    worker.on('exit', (code) => {
      if (!started) reject(new Error(`the database thread exited (${code}) before serving`));
      else if (code !== 0) logger?.error({ code }, 'embedded database thread ended; database calls will fail until a restart');
    });
  });
}

/**
 * Asks the worker to close its clients and the database cleanly, and waits for the thread to end
 * (it does once the database is closed); one that does not within STOP_TIMEOUT_MS is terminated.
 */
async function stopWorker(worker: Worker): Promise<void> {
  const ended = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ type: 'stop' } satisfies PgliteWorkerCommand);
  const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
  await ended;
  clearTimeout(timer);
}

const STOP_TIMEOUT_MS = 30_000;

/** A copy of the pristine cluster, for one in-memory start. */
async function freshClusterDump(): Promise<Uint8Array> {
  pristineCluster ??= dumpFreshCluster();
  try {
    return await pristineCluster;
  } catch (e) {
    pristineCluster = null; // the next start creates it again
    throw e;
  }
}

async function dumpFreshCluster(): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(tmpdir(), 'knock-pglite-'));
  try {
    const dumpPath = path.join(dir, 'cluster.tar');
    await createCluster(null, dumpPath);
    return new Uint8Array(await readFile(dumpPath));
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
