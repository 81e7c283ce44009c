/**
 * PostgreSQL LISTEN/NOTIFY as a small message bus between the service's instances: the database
 * every instance already shares is the one place they can all hear (no extra broker to run).
 *
 * One dedicated connection LISTENs on the given channels and reconnects by itself (capped
 * backoff) after a database restart or a dropped connection, re-issuing its LISTENs; `onReconnect`
 * tells the owner that notifications sent while it was away were missed, so it can catch up.
 * Sending goes through a one-connection pool, so a send works as soon as the database does.
 * Payloads are JSON; PostgreSQL caps a NOTIFY payload at 8000 bytes, so keep them small.
 * Works on the embedded database too (its wire server routes NOTIFY to LISTENing connections).
 */
import pg from 'pg';
import type { Logger } from 'pino';

export interface PgNotifyOptions {
  url: string;
  channels: readonly string[];
  logger: Logger;
  onNotification(channel: string, payload: unknown): void;
  /** Called after a lost LISTEN connection is back (not on the first connect). */
  onReconnect?(): void;
}

export interface PgNotify {
  /** Resolves once the LISTENs are in place (the first connection), so nothing sent after is missed. */
  start(): Promise<void>;
  send(channel: string, payload: unknown): Promise<void>;
  /** True while the LISTEN connection is up. */
  listening(): boolean;
  stop(): Promise<void>;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function createPgNotify(opts: PgNotifyOptions): PgNotify {
  for (const c of opts.channels) if (!CHANNEL.test(c)) throw new Error(`not a channel name: ${c}`);
  const log = opts.logger.child({ component: 'pg-notify' });
  const sender = new pg.Pool({ connectionString: opts.url, max: 1, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  sender.on('error', () => undefined); // an idle sender dropped by the server is replaced on next use
  let client: pg.Client | null = null;
  let stopped = false;
  let connected = false;
  let everConnected = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let delayMs = 250;
  let outageLogged = false;

  async function connect(): Promise<void> {
    const c = new pg.Client({ connectionString: opts.url, connectionTimeoutMillis: 10_000 });
    c.on('notification', (m) => {
      let payload: unknown = m.payload;
      try {
        payload = m.payload ? JSON.parse(m.payload) : null;
      } catch {
        // Not ours (someone ran NOTIFY by hand): handed over as text.
      }
      opts.onNotification(m.channel, payload);
    });
    c.on('error', () => undefined); // 'end' follows and schedules the reconnect
    c.on('end', () => {
      if (client !== c) return;
      client = null;
      connected = false;
      if (!stopped) {
        if (!outageLogged) log.warn({ channels: opts.channels }, 'LISTEN connection lost; reconnecting');
        outageLogged = true;
        schedule();
      }
    });
    await c.connect();
    for (const ch of opts.channels) await c.query(`LISTEN ${ch}`);
    if (stopped) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    connected = true;
    delayMs = 250;
    if (everConnected) {
      log.info({ channels: opts.channels }, 'LISTEN connection back');
      outageLogged = false;
      opts.onReconnect?.();
    }
    everConnected = true;
  }

  function schedule() {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      connect().catch((e: unknown) => {
        if (!outageLogged) log.warn({ err: e instanceof Error ? e.message : String(e) }, 'LISTEN connection failed; retrying');
        outageLogged = true;
        schedule();
      });
    }, delayMs);
    retryTimer.unref();
    delayMs = Math.min(delayMs * 2, 5_000);
  }

  return {
    async start() {
      try {
        await connect();
      } catch (e) {
        // The database is down at start: keep trying in the background, as after an outage.
        everConnected = true;
        log.warn({ err: e instanceof Error ? e.message : String(e) }, 'LISTEN connection failed; retrying');
        outageLogged = true;
        schedule();
      }
    },
    async send(channel, payload) {
      if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
      await sender.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(payload)]);
    },
    listening: () => connected,
    async stop() {
      stopped = true;
      if (retryTimer) clearTimeout(retryTimer);
      const c = client;
      client = null;
      connected = false;
      await c?.end().catch(() => undefined);
      await sender.end().catch(() => undefined);
    },
  };
}
