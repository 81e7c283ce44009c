/**
 * The service's resident memory as `npm start` runs it: the compiled service (`node
 * dist/main.js`, built first as `npm start` does, no TypeScript loader), on its own database
 * (embedded: the PGlite worker thread inside the service process, in a temporary data
 * directory; server: a throwaway database), jobs and demo data as configured by default, SIP off
 * (it would connect to whichever drachtio-server runs on this machine). The benchmark schedules
 * `count` callbacks through the scheduler's API into that database, due an hour later, so they
 * are all pending, and reads the service's resident memory from /proc: the whole process, every
 * thread (the database's included), plus any child process it has.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createScheduler } from '../src/jobs/scheduler.js';
import { openBenchDatabase, type BenchTarget } from './bench-database.js';
import { inParallel } from './stats.js';

export interface ServiceMemoryResult {
  /** Resident MB of the service process (all threads) and its children, with `count` pending. */
  rssMbWithPending: number;
  /** The same before anything was scheduled (service started, idle). */
  rssMbIdle: number;
  /** Highest reading while scheduling. */
  peakRssMb: number;
  /** Of rssMbWithPending: anonymous memory (heaps, WebAssembly, code) and file-backed pages. */
  anonMb: number;
  fileMb: number;
  count: number;
  command: string;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** kB fields of /proc/<pid>/status, summed over the process and its descendants. */
async function residentKb(pid: number): Promise<{ rss: number; anon: number; file: number }> {
  const total = { rss: 0, anon: 0, file: 0 };
  const visit = async (p: number) => {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    total.rss += field('VmRSS');
    total.anon += field('RssAnon');
    total.file += field('RssFile') + field('RssShmem');
    const tasks = await readdir(`/proc/${p}/task`).catch(() => [] as string[]);
    for (const t of tasks) {
      const children = await readFile(`/proc/${p}/task/${t}/children`, 'utf8').catch(() => '');
      for (const c of children.split(/\s+/).filter(Boolean)) await visit(Number(c));
    }
  };
  await visit(pid);
  return total;
}

const mb = (kb: number) => Math.round(kb / 1024);

export async function measureServiceMemory(target: BenchTarget, count: number): Promise<ServiceMemoryResult> {
  // `npm start` builds first; so does this.
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT });

  const httpPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    KNOCK_SERVER__PORT: String(httpPort),
    KNOCK_METRICS__LISTEN: '127.0.0.1:0',
    KNOCK_SIP__ENABLED: 'false',
    LOG_LEVEL: 'warn',
  };
  let dataDir: string | null = null;
  let serverDb: Awaited<ReturnType<typeof openBenchDatabase>> | null = null;
  let dbUrl: string;
  if (target.kind === 'embedded') {
    dataDir = await mkdtemp(path.join(tmpdir(), 'knock-bench-start-'));
    const dbPort = await freePort();
    env.KNOCK_DATABASE__EMBEDDED__DATADIR = path.join(dataDir, 'pg');
    env.KNOCK_DATABASE__EMBEDDED__PORT = String(dbPort);
    dbUrl = `postgres://postgres@127.0.0.1:${dbPort}/postgres`;
  } else {
    serverDb = await openBenchDatabase(target);
    env.DATABASE_URL = serverDb.url;
    dbUrl = serverDb.url;
  }

  const command = 'node dist/main.js';
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}) before it was healthy`);
      const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('the service did not become healthy within 120 s');
      await sleep(250);
    }
    await sleep(3000); // let start-up work (demo data, first job poll) settle
    const idle = await residentKb(child.pid!);

    const logger = pino({ level: 'warn' }, pino.destination(2));
    const scheduler = createScheduler({
      url: dbUrl,
      logger,
      instanceName: 'bench-scheduling',
      config: { processEveryMs: 500, lockLifetimeMs: 60_000, housekeepingCron: '*/5 * * * *', staleSessionHours: 12 },
      handlers: { callbackDue: async () => {}, expireRequest: async () => {}, remindCustomer: async () => {}, lapseHold: async () => {} },
    });
    let peak = idle.rss;
    const sampler = setInterval(() => {
      void residentKb(child.pid!).then((r) => {
        peak = Math.max(peak, r.rss);
      });
    }, 250);
    try {
      const at = new Date(Date.now() + 3_600_000);
      const ids = Array.from({ length: count }, (_, i) => `bench-memory-${i}`);
      await inParallel(ids, 8, (id) => scheduler.scheduleCallback(id, at));
    } finally {
      clearInterval(sampler);
      await scheduler.stop();
    }
    await sleep(3000); // the service's job runner polls meanwhile, as it would
    const pending = await residentKb(child.pid!);
    return {
      rssMbWithPending: mb(pending.rss),
      rssMbIdle: mb(idle.rss),
      peakRssMb: mb(Math.max(peak, pending.rss)),
      anonMb: mb(pending.anon),
      fileMb: mb(pending.file),
      count,
      command,
    };
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    if (serverDb) await serverDb.drop();
  }
}
