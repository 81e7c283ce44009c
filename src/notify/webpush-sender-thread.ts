/**
 * The push sender thread, seen from the service's main thread.
 *
 * Each Web Push message costs CPU: a fresh ECDH key agreement and the AES-GCM encryption of
 * RFC 8291, then an HTTP(S) request and its answer. On the main thread that was about a sixth
 * of the work of a knock (create + accept), on the event loop that also carries the HTTP API
 * and SIP signalling. In a thread of its own it runs beside that loop, on another core when
 * there is one.
 *
 * The thread starts with the first message and stays. If it ends unexpectedly, the messages it
 * held are answered `unreachable` (the notifier then falls back to SMS) and the next message
 * starts a new thread.
 */
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { startModuleWorker } from '../runtime/module-worker.js';
import type { PushAnswer, PushRequest, PushSenderOptions } from './webpush-request.js';
import type { PushThreadAnswer, PushThreadCommand, PushThreadData } from './webpush-thread.js';

export interface PushSenderThread {
  /** Never rejects: every failure is an answer. */
  deliver(request: PushRequest): Promise<PushAnswer>;
  /** Ends the thread; messages still in flight are answered `unreachable`, later ones too. */
  close(): Promise<void>;
}

/**
 * Beyond the request's own timeout (enforced in the thread), what the main thread allows for
 * the thread itself: its start-up on the first message, and a thread that stopped answering.
 */
const THREAD_GRACE_MS = 5000;
/** Short-lived buffers only; a small young generation keeps the thread's memory small. */
const THREAD_LIMITS = { maxYoungGenerationSizeMb: 4 };

export function createPushSenderThread(options: PushSenderOptions & { logger: Logger }): PushSenderThread {
  const { vapid, timeoutMs, allowedEndpointOrigins, logger } = options;
  let worker: Worker | null = null;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, { resolve: (answer: PushAnswer) => void; timer: NodeJS.Timeout }>();

  function settle(id: number, answer: PushAnswer): void {
    const waiting = pending.get(id);
    if (!waiting) return;
    pending.delete(id);
    clearTimeout(waiting.timer);
    waiting.resolve(answer);
  }

  function failAll(reason: string): void {
    for (const id of [...pending.keys()]) settle(id, { kind: 'unreachable', reason });
  }

  function thread(): Worker {
    if (worker) return worker;
    const started = startModuleWorker(import.meta.url, 'webpush-thread', {
      workerData: { vapid, timeoutMs, allowedEndpointOrigins } satisfies PushThreadData,
      resourceLimits: THREAD_LIMITS,
    });
    // An idle sender must not keep the process alive; messages in flight are held by their timers.
    started.unref();
    started.on('message', (message: PushThreadAnswer) => settle(message.id, message.answer));
    started.on('error', (err) => logger.error({ err }, 'push sender thread failed'));
    started.on('exit', (code) => {
      if (worker === started) worker = null;
      if (closed) return;
      logger.error({ code, inFlight: pending.size }, 'push sender thread ended; the next message starts a new one');
      failAll('the push sender thread ended');
    });
    worker = started;
    return started;
  }

  async function deliver(request: PushRequest): Promise<PushAnswer> {
    if (closed) return { kind: 'unreachable', reason: 'the push sender is stopped' };
    const id = nextId++;
    const answer = new Promise<PushAnswer>((resolve) => {
      const timer = setTimeout(() => settle(id, { kind: 'timeout' }), timeoutMs + THREAD_GRACE_MS);
      pending.set(id, { resolve, timer });
    });
    thread().postMessage({ id, request } satisfies PushThreadCommand);
    return answer;
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    failAll('the push sender is stopped');
    const ending = worker;
    worker = null;
    await ending?.terminate();
  }

  return { deliver, close };
}
