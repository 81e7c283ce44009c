/**
 * The service as an operator runs it, in a process of its own (`node src/main.ts` through tsx),
 * so a test can kill it with SIGKILL as a crash would and start it again under the same instance
 * name. Configured only through environment variables, as a deployment is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './drachtio-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServiceProcess {
  url: string;
  /** Starts the process and waits until /readyz shows every component in `until` up. */
  start(until?: string[]): Promise<void>;
  /** kill -9: nothing is hung up, closed or written on the way out. */
  crash(): Promise<void>;
  /** Sends a signal to the running process (e.g. SIGHUP to reload the routing file). */
  signal(sig: NodeJS.Signals): void;
  stop(): Promise<void>;
  logs(): string;
}

export async function serviceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';
  let exited: Promise<void> = Promise.resolve();

  const ready = async (until: string[]) => {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status !== 200) return false;
      const body = (await res.json()) as { components?: Record<string, string> };
      return until.every((c) => body.components?.[c] === 'up');
    } catch {
      return false;
    }
  };

  return {
    url,
    async start(until = ['database']) {
      const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'main.ts')], {
        cwd: ROOT,
        env: { ...process.env, KNOCK_SERVER__HOST: '127.0.0.1', KNOCK_SERVER__PORT: String(port), KNOCK_METRICS__LISTEN: '127.0.0.1:0', KNOCK_LOG__LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      const append = (c: Buffer) => {
        output += c.toString('utf8');
        if (output.length > 2_000_000) output = output.slice(-1_000_000);
      };
      proc.stdout!.on('data', append);
      proc.stderr!.on('data', append);
      exited = new Promise((done) => proc.once('exit', () => done()));
      const until_ = Date.now() + 60_000;
      while (!(await ready(until))) {
        if (proc.exitCode !== null) throw new Error(`the service exited during start-up:\n${output.slice(-4000)}`);
        if (Date.now() > until_) throw new Error(`the service did not become ready:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async crash() {
      if (child && child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      child = null;
    },
    signal(sig) {
      if (!child || child.exitCode !== null) throw new Error('the service process is not running');
      child.kill(sig);
    },
    async stop() {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child?.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      child = null;
    },
    logs: () => output,
  };
}
