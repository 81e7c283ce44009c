/**
 * Forks a benchmark helper (a .ts file run with the same loader as this process) and talks to
 * it with request/answer messages over the IPC channel.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

type Message = { type: string } & Record<string, any>;

export interface BenchChild {
  process: ChildProcess;
  /** Sends `message` and resolves with the first message of type `answer`. */
  ask<T = Message>(message: Message, answer: string, timeoutMs?: number): Promise<T>;
  send(message: Message): void;
  on(type: string, handler: (m: Message) => void): void;
  /** Asks it to exit; kills it if it has not within a few seconds. */
  stop(): Promise<void>;
}

export async function startChild(file: string, opts: { env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {}): Promise<BenchChild> {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const child = fork(path, [], { env: opts.env ?? process.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const handlers = new Map<string, Array<(m: Message) => void>>();
  let exited: string | null = null;
  const failures = new Set<(e: Error) => void>();

  child.on('message', (m: Message) => {
    for (const h of handlers.get(m.type) ?? []) h(m);
  });
  child.on('exit', (code, signal) => {
    exited = `${file} exited (${signal ?? code})`;
    for (const f of failures) f(new Error(exited));
  });

  const ask = <T>(message: Message, answer: string, timeoutMs = 300_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const done = () => {
        clearTimeout(timer);
        failures.delete(fail);
        list.splice(list.indexOf(onAnswer), 1);
        errList.splice(errList.indexOf(onError), 1);
      };
      const fail = (e: Error) => {
        done();
        reject(e);
      };
      const onAnswer = (m: Message) => {
        done();
        resolve(m as T);
      };
      const onError = (m: Message) => fail(new Error(`${file}: ${m.message}`));
      const timer = setTimeout(() => fail(new Error(`${file} did not answer ${message.type} within ${timeoutMs} ms`)), timeoutMs);
      const list = handlers.get(answer) ?? [];
      handlers.set(answer, list);
      list.push(onAnswer);
      const errList = handlers.get('error') ?? [];
      handlers.set('error', errList);
      errList.push(onError);
      failures.add(fail);
      if (message.type !== '') child.send(message);
    });

  const bench: BenchChild = {
    process: child,
    ask,
    send: (m) => {
      if (!exited) child.send(m);
    },
    on(type, handler) {
      const list = handlers.get(type) ?? [];
      handlers.set(type, list);
      list.push(handler);
    },
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
  // Wait for the child's first message, {type:'ready'}.
  await ask({ type: '' }, 'ready', opts.readyTimeoutMs ?? 60_000);
  return bench;
}
