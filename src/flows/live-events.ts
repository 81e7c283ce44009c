/**
 * Live events: what consoles (SSE) and app streams show, and what the SIP layer reacts to.
 *
 * Two audiences, two paths:
 * - `subscribe`: this instance's own listeners (the SIP side's `callback.dial`, busy lamps,
 *   metrics), told at once, in-process. A command such as `callback.dial` must be acted on by the
 *   instance that published it, never by every instance.
 * - `follow`: every instance's events, for the streams. Each publish is appended to a log shared
 *   through PostgreSQL (`live_events`, monotonic ids); one reader per instance reads the log from
 *   the last id it saw, woken by a NOTIFY sent on commit (and a slow poll, in case a wake-up was
 *   lost), and hands each event to its streams once, in id order. The id is the stream's SSE
 *   `id:`, so a stream that reconnects with `Last-Event-ID` gets exactly what it missed.
 *
 * Ids are taken when a row is inserted but become visible when it commits, so two instances
 * appending at once can commit 11 before 10. The reader never skips a missing id at once: it
 * waits for it (`gapWaitMs`) and only then takes it as lost (an insert that failed, a sequence
 * jump after a database crash). A request's changes carry its version, and a change older than
 * one already shown is not shown after it: a stream never goes back in a request's life.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { LiveEventRepo, LoggedLiveEvent } from '../store/store.js';
import type { EventsPort, LiveEvent, PublishOptions, StreamedEvent } from './ports.js';

/** In-process only (one instance, the admin CLI, tests of a single flow). */
export function createLiveEvents(): EventsPort {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0); // one per open console; bounded by connections, not by code
  return {
    publish(event: LiveEvent) {
      emitter.emit('event', event);
    },
    subscribe(listener) {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
  };
}

export interface ClusterEventsOptions {
  log: LiveEventRepo;
  /** This instance's id, stamped on what it appends. */
  origin: string;
  logger: Logger;
  /** Reads the log this often even without a wake-up (a NOTIFY missed while reconnecting). */
  pollMs?: number;
  /** How long a missing id is waited for before it is taken as lost. */
  gapWaitMs?: number;
  /** Recent events kept in memory for streams that resume (older ones are read from the log). */
  recent?: number;
}

export interface ClusterEvents extends EventsPort {
  /** Starts reading from the end of the log (streams see what comes next). */
  start(): Promise<void>;
  /** A NOTIFY said the log grew: read it now. */
  wake(): void;
  /** Stops reading; waits a moment for appends still queued. */
  stop(): Promise<void>;
}

/** Events the log does not carry: commands for the SIP side of the instance that published them. */
const LOCAL_ONLY = new Set<LiveEvent['type']>(['callback.dial']);
const MAX_QUEUED = 10_000;

export function createClusterEvents(opts: ClusterEventsOptions): ClusterEvents {
  const log = opts.logger.child({ component: 'live-events' });
  const pollMs = opts.pollMs ?? 1_000;
  const gapWaitMs = opts.gapWaitMs ?? 3_000;
  const recentMax = opts.recent ?? 2_000;
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const followers = new Set<(e: StreamedEvent) => void>();

  // Appending: one at a time, so this instance's events enter the log in the order it made them.
  const queue: Array<{ event: LiveEvent; requestVersion: number | null }> = [];
  let appending: Promise<void> | null = null;
  let appendFailing = false;

  // Reading.
  let cursor = 0; // every id up to here has been handed out (or taken as lost)
  let started = false;
  let stopped = false;
  let reading = false;
  let readAgain = false;
  let gap: { id: number; since: number } | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let gapTimer: NodeJS.Timeout | null = null;
  /** Handed-out events with an id above recentFloor, oldest first. */
  const recent: StreamedEvent[] = [];
  let recentFloor = 0;
  /** The highest version of each request handed out (bounded: oldest entries go first). */
  const shownVersion = new Map<string, number>();

  async function pump(): Promise<void> {
    let delay = 250;
    while (queue.length > 0) {
      const next = queue[0]!;
      try {
        await opts.log.append({
          origin: opts.origin,
          requestId: next.event.type === 'request.changed' ? next.event.requestId : null,
          requestVersion: next.requestVersion,
          event: next.event,
        });
        queue.shift();
        delay = 250;
        if (appendFailing) log.info({ queued: queue.length }, 'live events reach the shared log again');
        appendFailing = false;
      } catch (e) {
        // The database is away: keep the events, in order, and try again (streams elsewhere see
        // them late rather than never). This instance's own listeners were told already.
        if (!appendFailing) log.warn({ err: e instanceof Error ? e.message : String(e), queued: queue.length }, 'live event not written to the shared log; retrying');
        appendFailing = true;
        if (stopped) return;
        await new Promise((r) => setTimeout(r, delay).unref());
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  function enqueue(event: LiveEvent, requestVersion: number | null) {
    if (queue.length >= MAX_QUEUED) {
      queue.shift();
      log.warn('live event log queue full; the oldest unwritten event was dropped');
    }
    queue.push({ event, requestVersion });
    if (!appending) {
      appending = pump().finally(() => {
        appending = null;
      });
    }
  }

  function handOut(row: LoggedLiveEvent): void {
    cursor = row.id;
    if (row.requestId !== null && row.requestVersion !== null) {
      const seen = shownVersion.get(row.requestId);
      // Two instances moved the request milliseconds apart and the later move's event was
      // written first: the earlier one would take the stream back in time.
      if (seen !== undefined && row.requestVersion <= seen) return;
      shownVersion.delete(row.requestId);
      shownVersion.set(row.requestId, row.requestVersion);
      if (shownVersion.size > 20_000) shownVersion.delete(shownVersion.keys().next().value!);
    }
    const e: StreamedEvent = { id: row.id, event: row.event as LiveEvent };
    recent.push(e);
    while (recent.length > recentMax) recentFloor = recent.shift()!.id;
    for (const f of followers) f(e);
  }

  async function readLog(): Promise<void> {
    if (reading) {
      readAgain = true;
      return;
    }
    reading = true;
    try {
      do {
        readAgain = false;
        const rows = await opts.log.after(cursor, 500);
        for (const row of rows) {
          if (row.id !== cursor + 1) {
            const now = Date.now();
            if (!gap || gap.id !== cursor + 1) gap = { id: cursor + 1, since: now };
            if (now - gap.since < gapWaitMs) {
              // Perhaps still being committed: look again shortly rather than skip it.
              if (!gapTimer) {
                gapTimer = setTimeout(() => {
                  gapTimer = null;
                  void readLog();
                }, 50);
                gapTimer.unref();
              }
              break;
            }
            log.debug({ from: cursor + 1, to: row.id - 1 }, 'live event ids never committed; skipped');
          }
          gap = null;
          handOut(row);
        }
        if (rows.length === 500 && !gap) readAgain = true;
      } while (readAgain && !stopped);
    } catch (e) {
      log.debug({ err: e instanceof Error ? e.message : String(e) }, 'live event log not readable now; the next poll tries again');
    } finally {
      reading = false;
    }
  }

  return {
    publish(event: LiveEvent, options?: PublishOptions) {
      local.emit('event', event);
      if (started && !stopped && !LOCAL_ONLY.has(event.type)) enqueue(event, options?.requestVersion ?? null);
    },
    subscribe(listener) {
      local.on('event', listener);
      return () => local.off('event', listener);
    },
    follow(after, listener) {
      if (after === null || after >= cursor) {
        let from = after ?? cursor;
        const f = (e: StreamedEvent) => {
          if (e.id > from) listener(e);
        };
        followers.add(f);
        if (after !== null && after > cursor) {
          // Ahead of this reader: another instance's reader may be a moment ahead, but an id the
          // log never issued (a stream kept open across a new database) would silence the stream
          // until the log caught up with it. Such a stream starts from now instead.
          const now = cursor;
          void opts.log
            .lastId()
            .then((last) => {
              if (after > last) from = now;
            })
            .catch(() => undefined);
        }
        return () => followers.delete(f);
      }
      if (after >= recentFloor) {
        // Still in memory: what was missed, then what comes, with nothing in between.
        for (const e of recent) if (e.id > after) listener(e);
        followers.add(listener);
        return () => followers.delete(listener);
      }
      // Older than memory: read the log up to what memory holds, holding back live events meanwhile.
      let closed = false;
      let last = after;
      const held: StreamedEvent[] = [];
      const holding = (e: StreamedEvent) => held.push(e);
      const direct = (e: StreamedEvent) => {
        if (e.id > last) {
          last = e.id;
          listener(e);
        }
      };
      const floor = recentFloor;
      const snapshot = recent.slice();
      followers.add(holding);
      void (async () => {
        try {
          while (!closed && last < floor) {
            const rows = await opts.log.after(last, 500);
            const older = rows.filter((r) => r.id <= floor);
            for (const r of older) direct({ id: r.id, event: r.event as LiveEvent });
            if (older.length < 500) break;
          }
        } catch (e) {
          log.warn({ err: e instanceof Error ? e.message : String(e) }, 'could not read missed live events for a resuming stream');
        }
        if (closed) return;
        for (const e of snapshot) direct(e);
        for (const e of held) direct(e);
        followers.delete(holding);
        followers.add(direct);
      })();
      return () => {
        closed = true;
        followers.delete(holding);
        followers.delete(direct);
      };
    },
    async start() {
      cursor = await opts.log.lastId();
      recentFloor = cursor;
      started = true;
      pollTimer = setInterval(() => void readLog(), pollMs);
      pollTimer.unref();
    },
    wake() {
      if (started && !stopped) void readLog();
    },
    async stop() {
      stopped = true;
      if (pollTimer) clearInterval(pollTimer);
      if (gapTimer) clearTimeout(gapTimer);
      followers.clear();
      // What this instance published just before stopping still reaches the other instances.
      if (appending) await Promise.race([appending, new Promise((r) => setTimeout(r, 1_000).unref())]);
    },
  };
}
