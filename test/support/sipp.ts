/**
 * Runs sipp (Debian's sip-tester) with one of the scenarios in test/scenarios/*.xml, bound to
 * 127.0.0.1. `runSipp` resolves when sipp exits 0 and rejects with sipp's error log otherwise;
 * `startSippUas` keeps a sipp running in the background (a desk phone answering calls).
 *
 * The binary is `sipp` on PATH, or SIPP_BIN; `sippAvailable()` gives the one-line skip reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, udpPortFree } from './drachtio-server.js';

const SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios');

export interface SippOptions {
  /** File name without .xml in test/scenarios/. */
  scenario: string;
  /** host:port sipp sends to (drachtio-server's SIP port). Omit for a pure UAS. */
  remote?: string;
  /** Local SIP port; a free one is chosen when omitted. */
  localPort?: number;
  /** Values for the scenario's [key] placeholders (`-key name value`). */
  vars?: Record<string, string>;
  /** Calls to place (or, for a UAS, to answer) before exiting (`-m`); default 1. */
  calls?: number;
  /** sipp fails (and this rejects) when it has not finished by then. */
  timeoutMs: number;
  /** Username part of the request URI (`-s`). */
  service?: string;
  /** Echo the media sipp receives back to its sender (`-rtp_echo`). */
  rtpEcho?: boolean;
  /** Keep the full SIP message trace (on by default for fewer than 50 calls). */
  traceMessages?: boolean;
  extraArgs?: string[];
}

export interface SippResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Unexpected messages sipp logged (empty on a clean run). */
  errors: string;
  /** The SIP messages sent and received, when traced. */
  messages: string;
}

export class SippError extends Error {
  constructor(
    message: string,
    readonly result: SippResult,
  ) {
    super(message);
    this.name = 'SippError';
  }
}

function sippBinary(): string {
  return process.env.SIPP_BIN || 'sipp';
}

/** null when sipp can be run; otherwise the one-line reason the SIP tests skip. */
export function sippAvailable(): string | null {
  const res = spawnSync(sippBinary(), ['-v'], { encoding: 'utf8', timeout: 10_000 });
  // sipp -v prints its version and exits with 99.
  if (res.error || !/SIPp v?\d/.test(`${res.stdout}${res.stderr}`)) {
    return process.env.SIPP_BIN ? `sipp not runnable at SIPP_BIN=${sippBinary()}` : 'sipp not found on PATH (install sip-tester or set SIPP_BIN)';
  }
  return null;
}

interface Prepared {
  args: string[];
  dir: string;
  errorFile: string;
  messageFile: string;
  localPort: number;
}

/**
 * sipp binds its media port and the next three (RTCP, video RTP and RTCP). They are chosen in
 * 10000–16000: below the kernel's ephemeral range (where ports are handed out behind our back) and
 * below the RTP ports the test FreeSWITCH uses; all four are checked free.
 */
async function freeMediaPorts(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const base = 10_000 + 4 * Math.floor(Math.random() * 1_500);
    const free = await Promise.all([0, 1, 2, 3].map((k) => udpPortFree(base + k)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no four free loopback UDP ports found for sipp media');
}

async function prepare(opts: SippOptions): Promise<Prepared> {
  const file = join(SCENARIO_DIR, `${opts.scenario}.xml`);
  if (!existsSync(file)) throw new Error(`no sipp scenario test/scenarios/${opts.scenario}.xml`);
  const dir = mkdtempSync(join(tmpdir(), 'knock-sipp-'));
  const localPort = opts.localPort ?? (await freePort({ udp: true }));
  const mediaPort = await freeMediaPorts();
  const errorFile = join(dir, 'errors.log');
  const messageFile = join(dir, 'messages.log');
  const args = ['-sf', file, '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', String(localPort), '-mp', String(mediaPort)];
  args.push('-t', 'u1', '-m', String(opts.calls ?? 1), '-nostdin');
  args.push('-trace_err', '-error_file', errorFile);
  const trace = opts.traceMessages ?? (opts.calls ?? 1) < 50;
  if (trace) args.push('-trace_msg', '-message_file', messageFile);
  if (opts.service) args.push('-s', opts.service);
  if (opts.rtpEcho) args.push('-rtp_echo');
  args.push('-timeout', `${Math.max(1, Math.ceil(opts.timeoutMs / 1000))}s`, '-timeout_error');
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-key', k, v);
  args.push(...(opts.extraArgs ?? []));
  if (opts.remote) args.push(opts.remote);
  return { args, dir, errorFile, messageFile, localPort };
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

interface Running {
  child: ChildProcess;
  done: Promise<SippResult>;
}

function launch(p: Prepared, opts: SippOptions): Running {
  // sipp writes its log files in the working directory unless told otherwise; keep them in dir.
  const child = spawn(sippBinary(), p.args, { cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    if (stdout.length > 200_000) stdout = stdout.slice(-100_000);
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  // A safety net over sipp's own -timeout: never leave a sipp behind.
  const guard = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs + 10_000);
  const done = new Promise<SippResult>((resolveDone) => {
    const finish = (code: number) => {
      clearTimeout(guard);
      const result: SippResult = {
        exitCode: code,
        stdout,
        stderr,
        errors: readIfExists(p.errorFile),
        messages: readIfExists(p.messageFile),
      };
      rmSync(p.dir, { recursive: true, force: true });
      resolveDone(result);
    };
    child.once('error', (err) => {
      stderr += `\nspawn error: ${err.message}`;
      finish(-1);
    });
    child.once('exit', (code, signal) => finish(code ?? (signal ? 128 : -1)));
  });
  return { child, done };
}

function failure(opts: SippOptions, r: SippResult): SippError {
  const tail = (s: string, n: number) => (s.length > n ? `…${s.slice(-n)}` : s);
  return new SippError(
    `sipp ${opts.scenario} exited with ${r.exitCode}\n--- errors ---\n${tail(r.errors, 6000)}\n--- stderr ---\n${tail(r.stderr, 2000)}\n--- messages ---\n${tail(r.messages, 8000)}`,
    r,
  );
}

/** Runs a scenario to the end; resolves when sipp exits 0, rejects with its error log otherwise. */
export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const p = await prepare(opts);
  const { done } = launch(p, opts);
  const r = await done;
  if (r.exitCode !== 0) throw failure(opts, r);
  return r;
}

export interface SippUas {
  /** The local SIP port the UAS listens on (register this as the desk phone's contact). */
  port: number;
  /** Settles when sipp exits by itself (after `calls` calls): resolves on exit 0, rejects otherwise. */
  done: Promise<SippResult>;
  /** Asks sipp to finish (it ends calls in progress), kills it if it lingers, and returns its result. */
  stop(): Promise<SippResult>;
}

/**
 * Starts a long-running sipp, e.g. a desk phone that answers calls. The scenario usually starts
 * with <recv request="INVITE">; `remote` is only needed when it also sends first (REGISTER).
 */
export async function startSippUas(opts: Omit<SippOptions, 'timeoutMs'> & { timeoutMs?: number }): Promise<SippUas> {
  const full: SippOptions = { timeoutMs: 120_000, ...opts };
  const p = await prepare(full);
  const { child, done } = launch(p, full);
  const checked = done.then((r) => {
    if (r.exitCode !== 0) throw failure(full, r);
    return r;
  });
  // Nobody may be waiting on `done`; keep an unobserved failure from crashing the run.
  checked.catch(() => undefined);
  // Give sipp a moment to bind its port, and report a failure to start right away.
  const early = await Promise.race([done.then((r) => r), new Promise<null>((r) => setTimeout(() => r(null), 300))]);
  if (early && early.exitCode !== 0) throw failure(full, early);
  return {
    port: p.localPort,
    done: checked,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGUSR1: sipp stops taking new calls and exits once current ones end.
        child.kill('SIGUSR1');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        const r = await done;
        clearTimeout(timer);
        return r;
      }
      return done;
    },
  };
}
