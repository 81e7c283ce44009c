/**
 * One real server process for tests (drachtio-server, FreeSWITCH): start it, keep the tail of
 * its output for failure messages, wait until it is ready, stop it gently and then firmly.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const LOG_LIMIT = 2_000_000;

export interface ServerProcess {
  /** Spawns the process and polls `isReady` until it answers true; throws with the log tail. */
  start(isReady: () => Promise<boolean>, timeoutMs: number, pollMs?: number): Promise<void>;
  /** Asks the process to stop (`ask`), kills it after `killAfterMs`, resolves once it exited. */
  stop(ask: (proc: ChildProcess) => unknown, killAfterMs: number): Promise<void>;
  logs(): string;
}

export function serverProcess(name: string, command: () => string, args: string[], options: SpawnOptions = {}): ServerProcess {
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (output.length > LOG_LIMIT) output = output.slice(output.length - LOG_LIMIT);
  };
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  return {
    async start(isReady, timeoutMs, pollMs = 50) {
      const proc = spawn(command(), args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      proc.stdout!.on('data', append);
      proc.stderr!.on('data', append);
      let gone = false;
      exited = new Promise<void>((done) => {
        proc.once('exit', () => {
          gone = true;
          done();
        });
        proc.once('error', (err) => {
          append(Buffer.from(`\nspawn error: ${err.message}\n`));
          gone = true;
          done();
        });
      });
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (gone) throw new Error(`${name} exited during start-up:\n${output.slice(-4000)}`);
        if (await isReady().catch(() => false)) return;
        if (Date.now() > until) throw new Error(`${name} did not become ready in time:\n${output.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
    async stop(ask, killAfterMs) {
      const proc = child;
      child = null;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      await ask(proc);
      const timer = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
      await exited;
      clearTimeout(timer);
    },
    logs: () => output,
  };
}
