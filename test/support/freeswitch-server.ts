/**
 * Runs a real FreeSWITCH for a test suite with the project's own configuration (freeswitch/):
 * the folder is copied to a temporary directory and FreeSWITCH is started in the foreground with
 * every runtime directory (logs, db, certs, sounds...) inside it, on free loopback ports passed
 * through the same environment variables a deployment uses (KNOCK_FS_*).
 *
 * The binary is `freeswitch` on PATH, or FREESWITCH_BIN. When neither runs, the suites skip with
 * the one line `freeswitchAvailable()` returns.
 */
import { serverProcess } from './server-process.js';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './drachtio-server.js';

export interface FreeswitchServer {
  host: '127.0.0.1';
  eslPort: number;
  eslSecret: string;
  /** SIP port of the drachtio_mrf profile. */
  sipPort: number;
  /** First and last RTP port FreeSWITCH may use. */
  rtpPorts: [number, number];
  /** Runs an API command over the event socket and returns its text answer. */
  api(command: string): Promise<string>;
  /**
   * Stops FreeSWITCH and starts it again on the same ports (reconnection tests); `whileDown` runs
   * in between (what callers meet while it is gone), and FreeSWITCH is started again even when it throws.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /** kill -9, as a crash: no channel is hung up, no BYE sent. `start()` brings it back on the same ports. */
  crash(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What FreeSWITCH printed so far (the last ~2 MB). */
  logs(): string;
}

const CONF_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../freeswitch');

function freeswitchBinary(): string {
  return process.env.FREESWITCH_BIN || 'freeswitch';
}

/** null when FreeSWITCH can be run; otherwise the one-line reason the media tests skip. */
export function freeswitchAvailable(): string | null {
  const bin = freeswitchBinary();
  const res = spawnSync(bin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (res.error || res.status !== 0) {
    return process.env.FREESWITCH_BIN
      ? `FreeSWITCH not runnable at FREESWITCH_BIN=${bin}`
      : 'FreeSWITCH not found on PATH (set FREESWITCH_BIN)';
  }
  return null;
}

function hasStdbuf(): boolean {
  return spawnSync('stdbuf', ['--version'], { encoding: 'utf8', timeout: 5000 }).status === 0;
}

/**
 * One event-socket request: authenticate, run `api <command>`, return the body. Small on purpose:
 * tests only need to ask FreeSWITCH questions (channels, RTP counters), not drive calls.
 */
export async function eslApi(port: number, secret: string, command: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const sock: Socket = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'api' = 'greeting';
    const timer = setTimeout(() => fail(new Error(`event socket: no answer to "${command}"`)), timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    // Frames are "headers\n\n" optionally followed by Content-Length bytes of body.
    const nextFrame = (): { headers: Record<string, string>; body: string } | null => {
      const end = buf.indexOf('\n\n');
      if (end < 0) return null;
      const headers: Record<string, string> = {};
      for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (buf.length < end + 2 + len) return null;
      const body = buf.subarray(end + 2, end + 2 + len).toString('utf8');
      buf = buf.subarray(end + 2 + len);
      return { headers, body };
    };
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (let frame = nextFrame(); frame; frame = nextFrame()) {
        const type = frame.headers['content-type'];
        if (stage === 'greeting' && type === 'auth/request') {
          stage = 'auth';
          sock.write(`auth ${secret}\n\n`);
        } else if (stage === 'auth' && type === 'command/reply') {
          if (!(frame.headers['reply-text'] ?? '').startsWith('+OK')) return fail(new Error('event socket refused the password'));
          stage = 'api';
          sock.write(`api ${command}\n\n`);
        } else if (stage === 'api' && type === 'api/response') {
          clearTimeout(timer);
          sock.end('exit\n\n');
          resolvePromise(frame.body);
        } else if (type === 'text/rude-rejection') {
          return fail(new Error('event socket rejected this address'));
        }
      }
    });
    sock.once('error', fail);
  });
}

export async function startFreeswitch(opts: { startTimeoutMs?: number; /** Extra KNOCK_FS_* settings. */ env?: Record<string, string> } = {}): Promise<FreeswitchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'knock-freeswitch-'));
  const conf = join(dir, 'conf');
  cpSync(CONF_DIR, conf, { recursive: true, filter: (src) => !src.endsWith('README.md') });
  const runtime = ['log', 'db', 'run', 'temp', 'storage', 'cache', 'recordings', 'sounds', 'certs'];
  for (const d of runtime) mkdirSync(join(dir, d));

  const eslSecret = randomBytes(8).toString('hex');
  const eslPort = await freePort();
  let sipPort = await freePort({ udp: true });
  while (sipPort === eslPort) sipPort = await freePort({ udp: true });
  // RTP ports cannot be probed one by one; a random even-aligned block makes collisions between
  // suites unlikely, and FreeSWITCH skips ports it cannot bind.
  const rtpStart = 20_000 + 2 * randomInt(0, 10_000);
  const rtpPorts: [number, number] = [rtpStart, rtpStart + 399];

  const env = {
    ...process.env,
    KNOCK_FS_IP: '127.0.0.1',
    KNOCK_FS_SIP_PORT: String(sipPort),
    KNOCK_FS_ESL_IP: '127.0.0.1',
    KNOCK_FS_ESL_PORT: String(eslPort),
    KNOCK_FS_ESL_PASSWORD: eslSecret,
    KNOCK_FS_RTP_START: String(rtpPorts[0]),
    KNOCK_FS_RTP_END: String(rtpPorts[1]),
    KNOCK_FS_ALLOW_CIDR: '127.0.0.0/8',
    // A browser in the tests also lists candidates on the machine's other interfaces; media stays on loopback.
    KNOCK_FS_ICE_CANDIDATE_ACL: 'loopback.auto',
    KNOCK_FS_LOGLEVEL: process.env.KNOCK_FS_LOGLEVEL || 'info',
    ...opts.env,
  };
  const args = ['-nf', '-nonat', '-nonatmap', '-nocal', '-conf', conf];
  for (const d of runtime) args.push(`-${d}`, join(dir, d));

  const api = (command: string) => eslApi(eslPort, eslSecret, command);
  // FreeSWITCH's console log goes through stdio, block-buffered on a pipe: without stdbuf the
  // log tail in a failure message would stop kilobytes short of the call that failed.
  const lineBuffered = hasStdbuf();
  const server = lineBuffered
    ? serverProcess('FreeSWITCH', () => 'stdbuf', ['-oL', '-eL', freeswitchBinary(), ...args], { cwd: dir, env })
    : serverProcess('FreeSWITCH', freeswitchBinary, args, { cwd: dir, env });
  // Ready when the event socket answers and the media profile is running.
  const launch = () =>
    server.start(async () => /drachtio_mrf\s+profile\s+\S+\s+RUNNING/.test(await api('sofia status')), opts.startTimeoutMs ?? 30_000, 100);
  // Orderly shutdown first (hangs up channels, closes sockets), a kill only if it hangs.
  const halt = () => server.stop((proc) => api('shutdown').catch(() => proc.kill('SIGTERM')), 10_000);

  try {
    await launch();
  } catch (e) {
    await server.stop((proc) => proc.kill('SIGKILL'), 0);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    host: '127.0.0.1',
    eslPort,
    eslSecret,
    sipPort,
    rtpPorts,
    api,
    async restart(whileDown) {
      await halt();
      try {
        await whileDown?.();
      } finally {
        await launch();
      }
    },
    async crash() {
      await server.stop((proc) => proc.kill('SIGKILL'), 0);
    },
    start: launch,
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
    logs: () => server.logs(),
  };
}
