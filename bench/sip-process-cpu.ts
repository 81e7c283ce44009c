/**
 * CPU of each process taking part in a SIP benchmark step, read from /proc (Linux; elsewhere
 * the figures are null): this process (the service or the bare answerer), drachtio-server,
 * sipp, FreeSWITCH, and only the PostgreSQL backends of the benchmark's own database, because
 * other databases on a shared server are someone else's load. Also the load average, since the
 * machine is shared and figures mean little without it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { processCpuMs } from './cpu.js';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

function pids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

/** Processes whose command line (NUL-separated arguments joined by spaces) contains every needle. */
export function findPids(needles: string[]): number[] {
  return pids().filter((pid) => {
    const cmd = readText(`/proc/${pid}/cmdline`)?.replace(/\0/g, ' ');
    return !!cmd && needles.every((n) => cmd.includes(n));
  });
}

/** Processes whose environment has `name=value` (e.g. the port a FreeSWITCH was started with). */
export function findPidsByEnv(name: string, value: string): number[] {
  const needle = `${name}=${value}\0`;
  return pids().filter((pid) => (readText(`/proc/${pid}/environ`) ?? '').includes(needle) && readText(`/proc/${pid}/comm`)?.trim() !== 'node');
}

/** The PostgreSQL backends serving `database` (their titles read "postgres: user database host ..."). */
function backendTimes(database: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids()) {
    if (readText(`/proc/${pid}/comm`)?.trim() !== 'postgres') continue;
    const cmd = readText(`/proc/${pid}/cmdline`)?.replace(/\0/g, ' ') ?? '';
    if (!cmd.includes(` ${database} `)) continue;
    const ms = processCpuMs(pid);
    if (ms !== null) out.set(pid, ms);
  }
  return out;
}

export interface ProcessCpuSample {
  at: number;
  self: NodeJS.CpuUsage;
  named: Map<string, number | null>;
  postgres: Map<number, number> | null;
}

export interface ProcessCpuWatch {
  /** Named processes to follow (drachtio-server, FreeSWITCH, ...); a later sampler may add sipp. */
  pids: Map<string, number>;
  database: string | null;
}

export function sampleProcessCpu(watch: ProcessCpuWatch): ProcessCpuSample {
  const named = new Map<string, number | null>();
  for (const [name, pid] of watch.pids) named.set(name, processCpuMs(pid));
  return { at: performance.now(), self: process.cpuUsage(), named, postgres: watch.database ? backendTimes(watch.database) : null };
}

/** Cores busy on average over the window, per process (1.0 = one core all the time). */
export type CoresByProcess = Record<string, number | null>;

export function coresBetween(a: ProcessCpuSample, b: ProcessCpuSample): CoresByProcess {
  const wallMs = b.at - a.at;
  const r = (ms: number) => Math.round((ms / wallMs) * 100) / 100;
  const out: CoresByProcess = {
    bench: r((b.self.user - a.self.user + b.self.system - a.self.system) / 1000),
  };
  for (const [name, after] of b.named) {
    const before = a.named.get(name);
    out[name] = after === null || before === null || before === undefined ? null : r(after - before);
  }
  if (a.postgres && b.postgres) {
    let ms = 0;
    // Backends started inside the window count from zero.
    for (const [pid, t] of b.postgres) ms += t - (a.postgres.get(pid) ?? 0);
    out.postgres = r(ms);
  } else {
    out.postgres = null;
  }
  return out;
}

/** Load average (1, 5, 15 min) rounded, for the record kept with every figure. */
export function loadAverage(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}
