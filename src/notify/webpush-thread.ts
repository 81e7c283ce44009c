/**
 * Worker-thread entry of the push sender: encrypts and posts the Web Push messages the channel
 * hands it (webpush-request.ts) and answers each with what the push service said. Started by
 * webpush-sender-thread.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createPushSender, type PushAnswer, type PushRequest, type PushSenderOptions } from './webpush-request.js';

export type PushThreadData = PushSenderOptions;
export interface PushThreadCommand {
  id: number;
  request: PushRequest;
}
export interface PushThreadAnswer {
  id: number;
  answer: PushAnswer;
}

const port = parentPort!;
const sender = createPushSender(workerData as PushThreadData);

port.on('message', (command: PushThreadCommand) => {
  sender.deliver(command.request).then(
    (answer) => port.postMessage({ id: command.id, answer } satisfies PushThreadAnswer),
    (e: unknown) => port.postMessage({ id: command.id, answer: { kind: 'unreachable', reason: e instanceof Error ? e.message : String(e) } } satisfies PushThreadAnswer),
  );
});
