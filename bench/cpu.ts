/**
 * Where the CPU went during a measurement window: this process, the whole machine (/proc/stat)
 * and the local PostgreSQL server's processes (/proc/<pid>/stat of every "postgres" process).
 * Linux only; elsewhere the machine and PostgreSQL figures are null.
 */
import { readdirSync, readFileSync } from 'node:fs';

// Linux reports process times in clock ticks of 1/100 s on every common platform.
const TICK_MS = 10;

export interface CpuSample {
  at: number;
  self: NodeJS.CpuUsage;
  machine: { busyMs: number; totalMs: number } | null;
  postgres: Map<number, number> | null;
}

function machineTimes(): { busyMs: number; totalMs: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return { busyMs: (total - idle) * TICK_MS, totalMs: total * TICK_MS };
  } catch {
    return null;
  }
}

/** utime + stime of a process in ms, or null when it is gone (or not on Linux). */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces; fields resume after its closing parenthesis.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * TICK_MS; // utime + stime
  } catch {
    return null;
  }
}

function postgresTimes(): Map<number, number> | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const out = new Map<number, number>();
  for (const d of pids) {
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const ms = processCpuMs(Number(d));
    if (ms !== null) out.set(Number(d), ms);
  }
  return out;
}

export function sampleCpu(opts: { postgres: boolean }): CpuSample {
  return { at: performance.now(), self: process.cpuUsage(), machine: machineTimes(), postgres: opts.postgres ? postgresTimes() : null };
}

export interface CpuWindow {
  wallMs: number;
  /** CPU time as cores busy on average over the window (1.0 = one core all the time). */
  selfCores: number;
  /** Share of this process's CPU time spent in the kernel (system calls: sockets, mostly). */
  selfSystemShare: number;
  machineCores: number | null;
  machineBusyPercent: number | null;
  postgresCores: number | null;
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuWindow {
  const wallMs = b.at - a.at;
  const selfMs = (b.self.user - a.self.user + b.self.system - a.self.system) / 1000;
  const systemMs = (b.self.system - a.self.system) / 1000;
  let postgresMs: number | null = null;
  if (a.postgres && b.postgres) {
    postgresMs = 0;
    // Backends started inside the window count from zero.
    for (const [pid, ms] of b.postgres) postgresMs += ms - (a.postgres.get(pid) ?? 0);
  }
  const machineMs = a.machine && b.machine ? b.machine.busyMs - a.machine.busyMs : null;
  const machineTotal = a.machine && b.machine ? b.machine.totalMs - a.machine.totalMs : null;
  return {
    wallMs,
    selfCores: selfMs / wallMs,
    selfSystemShare: selfMs > 0 ? systemMs / selfMs : 0,
    machineCores: machineMs === null ? null : machineMs / wallMs,
    machineBusyPercent: machineMs === null || !machineTotal ? null : (100 * machineMs) / machineTotal,
    postgresCores: postgresMs === null ? null : postgresMs / wallMs,
  };
}

/** This process's CPU since `from`, as cores. */
export function selfCoresSince(from: { at: number; usage: NodeJS.CpuUsage }): number {
  const u = process.cpuUsage(from.usage);
  return (u.user + u.system) / 1000 / (performance.now() - from.at);
}
