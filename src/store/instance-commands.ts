/**
 * Commands from one instance to another, answered, over PostgreSQL LISTEN/NOTIFY (pg-notify.ts):
 * a live call's SIP dialogs and FreeSWITCH channels are objects of the process that set it up,
 * so a command about a call (a console transfer) must run there, whichever instance the console
 * asked. The asker NOTIFYs the command addressed to the owner's process id and waits for the
 * owner's answer on a second channel, for a bounded time: an owner that does not answer (dead,
 * cut off from the database) is reported at once as `unavailable`, never retried behind the
 * caller's back. A command to this same process is run directly, without the database.
 *
 * Nothing is durable here on purpose: a command about a live call is worth nothing once the
 * process holding the call is gone (the call goes with it; see the call reconciler).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { AppError, isAppError, type ErrorCode } from '../domain/errors.js';
import { createPgNotify, type PgNotify } from './pg-notify.js';

const ASK = 'knock_instance_command';
const ANSWER = 'knock_instance_answer';

export interface InstanceCommandsOptions {
  url: string;
  /** This process's id (the `owner` stamped on its call records). */
  instanceId: string;
  logger: Logger;
  /** Runs a command addressed to this process; its result (JSON) is the answer. */
  handle(kind: string, data: Record<string, unknown>): Promise<unknown>;
}

export interface InstanceCommands {
  start(): Promise<void>;
  /**
   * Runs `kind` on process `to` and resolves with its answer. Rejects with the AppError the owner
   * raised, or `unavailable` when it did not answer within `timeoutMs`.
   */
  ask(to: string, kind: string, data: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  stop(): Promise<void>;
}

interface AskMessage {
  id: string;
  to: string;
  from: string;
  kind: string;
  data: Record<string, unknown>;
}

interface AnswerMessage {
  id: string;
  to: string;
  ok: boolean;
  answer?: unknown;
  code?: ErrorCode;
  message?: string;
}

export function createInstanceCommands(opts: InstanceCommandsOptions): InstanceCommands {
  const log = opts.logger.child({ component: 'instance-commands' });
  const waiting = new Map<string, (m: AnswerMessage) => void>();

  async function run(kind: string, data: Record<string, unknown>): Promise<Omit<AnswerMessage, 'id' | 'to'>> {
    try {
      return { ok: true, answer: await opts.handle(kind, data) };
    } catch (e) {
      if (isAppError(e)) return { ok: false, code: e.code, message: e.message };
      log.error({ kind, err: e instanceof Error ? e.message : String(e) }, 'command from another instance failed');
      return { ok: false, code: 'internal', message: 'The command failed on the server holding the call.' };
    }
  }

  const bus: PgNotify = createPgNotify({
    url: opts.url,
    channels: [ASK, ANSWER],
    logger: opts.logger,
    onNotification(channel, payload) {
      const m = payload as Partial<AskMessage & AnswerMessage> | null;
      if (!m || typeof m.id !== 'string' || m.to !== opts.instanceId) return; // another instance's
      if (channel === ANSWER) {
        waiting.get(m.id)?.(m as AnswerMessage);
        return;
      }
      const ask = m as AskMessage;
      void run(String(ask.kind), ask.data && typeof ask.data === 'object' ? ask.data : {}).then((answer) =>
        bus.send(ANSWER, { ...answer, id: ask.id, to: ask.from }).catch((e: unknown) => {
          log.warn({ kind: ask.kind, err: e instanceof Error ? e.message : String(e) }, 'could not answer a command from another instance');
        }),
      );
    },
  });

  return {
    start: () => bus.start(),
    async ask(to, kind, data, timeoutMs) {
      const answer: Omit<AnswerMessage, 'id' | 'to'> =
        to === opts.instanceId
          ? await run(kind, data)
          : await new Promise<AnswerMessage>((resolve, reject) => {
              const id = randomUUID();
              const timer = setTimeout(() => {
                waiting.delete(id);
                reject(new AppError('unavailable', `The server holding the call did not answer within ${Math.round(timeoutMs / 100) / 10} s; try again.`));
              }, timeoutMs);
              waiting.set(id, (m) => {
                clearTimeout(timer);
                waiting.delete(id);
                resolve(m);
              });
              const message: AskMessage = { id, to, from: opts.instanceId, kind, data };
              bus.send(ASK, message).catch((e: unknown) => {
                clearTimeout(timer);
                waiting.delete(id);
                reject(isAppError(e) ? e : new AppError('unavailable', 'The database is not reachable; the command could not be sent.'));
              });
            });
      if (answer.ok) return answer.answer;
      throw new AppError(answer.code ?? 'internal', answer.message ?? 'The command failed on the server holding the call.');
    },
    stop: () => bus.stop(),
  };
}
