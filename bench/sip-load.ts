/**
 * One step of SIP load: sipp places `rate` calls per second for `seconds` seconds over UDP on
 * loopback (test/scenarios/bench-call.xml: INVITE with a Bearer token and device proof from the
 * injection file, 200, ACK, 200 ms, BYE), then reports calls completed and failed, the rate actually achieved,
 * and the INVITE -> 200 OK time of every call (sipp -trace_rtt, one line per call). sipp reports
 * these in whole milliseconds from its event-loop clock, which on loopback moves in steps of
 * about 4 ms: read them as ±4 ms; the answerers time their own part precisely.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/drachtio-server.js';
import { processCpuMs } from './cpu.js';
import { round, summarize, type LatencySummary } from './stats.js';

const SCENARIOS = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'scenarios');

export interface LoadStep {
  /** Calls per second offered. */
  rate: number;
  seconds: number;
  /** One injection line `token;proof` per call, in order. */
  tokens: string[];
  /** Call n's Call-ID is `<callIdPrefix>-n` (what the proofs were signed over). */
  callIdPrefix: string;
  /** host:port of drachtio-server. */
  remote: string;
  /** Scenario file in test/scenarios (default bench-call.xml: signalling only). */
  scenario?: string;
  /** More sipp arguments (call duration, keys, ...). */
  extraArgs?: string[];
  /** Most calls in progress at once (default 2000). */
  limit?: number;
  /** How long a call lasts beyond its setup, to size sipp's overall timeout (default 0). */
  holdSeconds?: number;
}

export interface LoadResult {
  offeredPerSecond: number;
  calls: number;
  successful: number;
  failed: number;
  /** Successful calls divided by the time from the first INVITE to the last 200 OK. */
  achievedPerSecond: number;
  /** INVITE sent -> 200 OK received, per successful call. */
  setup: LatencySummary;
  sippExitCode: number;
  /** The last lines of sipp's error log when something failed. */
  errors: string;
  /** sipp's own CPU over its run, in cores (null where /proc is not readable). */
  sippCores: number | null;
}

function sippBinary(): string {
  return process.env.SIPP_BIN || 'sipp';
}

/** Parses `-trace_rtt` output: "date_ms;response_time_ms;rtd_no" per line after the header. */
function readRtt(dir: string): Array<{ at: number; ms: number }> {
  const file = readdirSync(dir).find((f) => f.endsWith('_rtt.csv'));
  if (!file) return [];
  const out: Array<{ at: number; ms: number }> = [];
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    const [at, ms] = line.split(';');
    const a = Number(at);
    const m = Number(ms);
    if (Number.isFinite(a) && Number.isFinite(m) && at !== '') out.push({ at: a, ms: m });
  }
  return out;
}

/** Last cumulative counters of the `-trace_stat` CSV. */
function readStat(dir: string): { successful: number; failed: number } {
  const file = readdirSync(dir).find((f) => f.endsWith('_.csv'));
  if (!file) return { successful: 0, failed: 0 };
  const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
  const head = lines[0]!.split(';');
  const last = lines[lines.length - 1]!.split(';');
  const col = (name: string) => Number(last[head.indexOf(name)] ?? NaN);
  return { successful: col('SuccessfulCall(C)'), failed: col('FailedCall(C)') };
}

export async function runLoadStep(step: LoadStep): Promise<LoadResult> {
  const calls = Math.round(step.rate * step.seconds);
  if (step.tokens.length < calls) throw new Error(`need ${calls} tokens, have ${step.tokens.length}`);
  const dir = mkdtempSync(join(tmpdir(), 'knock-bench-sipp-'));
  try {
    writeFileSync(join(dir, 'tokens.csv'), `SEQUENTIAL\n${step.tokens.slice(0, calls).join('\n')}\n`);
    const port = await freePort({ udp: true });
    const mediaPort = await freePort({ udp: true });
    const timeoutS = step.seconds + (step.holdSeconds ?? 0) + 20;
    const args = [
      '-sf', join(SCENARIOS, step.scenario ?? 'bench-call.xml'), '-inf', join(dir, 'tokens.csv'), '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', String(port), '-mp', String(mediaPort),
      '-t', 'u1', '-m', String(calls), '-r', String(step.rate), '-rp', '1000', '-l', String(step.limit ?? 2000), '-s', 'customer-call', '-cid_str', `${step.callIdPrefix}-%u`, '-nostdin',
      '-trace_err', '-error_file', join(dir, 'errors.log'), '-trace_stat', '-fd', '1', '-trace_rtt', '-rtt_freq', '1',
      '-timeout', `${timeoutS}s`, '-timeout_error', '-max_recv_loops', '10000', '-max_sched_loops', '10000', ...(step.extraArgs ?? []), step.remote,
    ];
    // sipp's CPU is sampled while it runs: once it has exited /proc no longer has it. Knowing
    // it tells whether the load generator itself was the limit.
    let sippCpuMs: number | null = null;
    const spawnedAt = performance.now();
    let lastSampleAt = spawnedAt;
    const exitCode = await new Promise<number>((done) => {
      const child = spawn(sippBinary(), args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      const sampler = setInterval(() => {
        const ms = child.pid ? processCpuMs(child.pid) : null;
        if (ms !== null) {
          sippCpuMs = ms;
          lastSampleAt = performance.now();
        }
      }, 200);
      const guard = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 10) * 1000);
      const finish = (code: number) => {
        clearTimeout(guard);
        clearInterval(sampler);
        done(code);
      };
      child.once('error', () => finish(-1));
      child.once('exit', (code, signal) => finish(code ?? (signal ? 128 : -1)));
    });
    const rtt = readRtt(dir);
    const stat = readStat(dir);
    const ats = rtt.map((r) => r.at);
    const first = Math.min(...ats) - (rtt[0]?.ms ?? 0);
    const spanS = rtt.length > 1 ? (Math.max(...ats) - first) / 1000 : step.seconds;
    let errors = '';
    try {
      errors = readFileSync(join(dir, 'errors.log'), 'utf8').slice(-3000);
    } catch {
      // no error log: nothing went wrong
    }
    return {
      offeredPerSecond: step.rate,
      calls,
      successful: stat.successful,
      failed: stat.failed,
      achievedPerSecond: round(stat.successful / Math.max(spanS, 0.001), 1),
      setup: summarize(rtt.map((r) => r.ms)),
      sippExitCode: exitCode,
      errors: exitCode === 0 ? '' : errors,
      sippCores: sippCpuMs === null ? null : round(sippCpuMs / Math.max(1, lastSampleAt - spawnedAt), 2),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
