/**
 * A live event stream (SSE) over the cluster's event log: each event goes out with its log id as
 * the SSE `id:`, so a client that reconnects with `Last-Event-ID` (EventSource does so by itself)
 * gets what it missed, once, in order, whichever instance it reconnects to. Without a shared log
 * (the admin CLI's in-process bus) it falls back to this instance's events, without ids.
 */
import type { Request, Response } from 'express';
import { AppError } from '../domain/errors.js';
import type { EventsPort, LiveEvent } from '../flows/ports.js';
import { sendProblem } from './problem.js';

const KEEP_ALIVE_MS = 15_000;
const EVENT_ID = /^\d{1,15}$/;

/** The `Last-Event-ID` asked for: null when absent; undefined when it is not one of ours. */
function lastEventId(req: Request): number | null | undefined {
  const raw = req.get('last-event-id');
  if (raw === undefined || raw.trim() === '') return null;
  return EVENT_ID.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

/**
 * Opens the stream on `res` and writes each event `frame` returns text for (null: not for this
 * stream). `onClose` runs when the client goes. Answers 400 for a Last-Event-ID that is not ours.
 */
export function openLiveStream(
  req: Request,
  res: Response,
  events: EventsPort,
  frame: (e: LiveEvent) => { type: string; data: unknown } | null,
  onOpen?: (write: (text: string) => void) => () => void,
): void {
  const after = lastEventId(req);
  if (after === undefined) {
    sendProblem(res, new AppError('validation_failed', 'Last-Event-ID must be the id of an event this service sent (digits only).'));
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
  res.write(': connected\n\n');
  const write = (text: string) => res.write(text);
  const send = (e: LiveEvent, id: number | null) => {
    const f = frame(e);
    if (f) write(`${id !== null ? `id: ${id}\n` : ''}event: ${f.type}\ndata: ${JSON.stringify(f.data)}\n\n`);
  };
  const unsubscribe = events.follow ? events.follow(after, (s) => send(s.event, s.id)) : events.subscribe((e) => send(e, null));
  const detach = onOpen?.(write);
  const keepAlive = setInterval(() => write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  req.on('close', () => {
    clearInterval(keepAlive);
    unsubscribe();
    detach?.();
  });
}
