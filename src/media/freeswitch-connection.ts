/**
 * The one connection to FreeSWITCH (drachtio-fsmrf over the event socket). It keeps trying while
 * FreeSWITCH is down or restarting, says so once in the log per outage, and reports its state
 * for the readiness endpoint. Calls ask for the media server when they need it and get a clear
 * `unavailable` error while there is none.
 */
import { connect as tcpConnect } from 'node:net';
import type Srf from 'drachtio-srf';
import Mrf from 'drachtio-fsmrf';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { AppError } from '../domain/errors.js';

export type MediaServer = Mrf.MediaServer;

export interface FreeswitchConnection {
  /** The connected media server; throws AppError('unavailable') while FreeSWITCH is unreachable. */
  mediaServer(): MediaServer;
  isConnected(): boolean;
  /** Resolves with the media server once connected; rejects after timeoutMs. */
  whenConnected(timeoutMs: number): Promise<MediaServer>;
  /** Calls `fn` on every connection (true) and every loss of it (false). */
  onChange(fn: (connected: boolean) => void): void;
  close(): Promise<void>;
}

export interface FreeswitchConnectionOptions {
  srf: Srf;
  media: Config['media'];
  logger: Logger;
  /** Retry spacing while FreeSWITCH is unreachable (doubling from min up to max). */
  retryMs?: { min: number; max: number };
}

/** True when something accepts TCP connections at host:port (cheap check before a full connect). */
function accepts(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * drachtio-modesl retries a lost inbound connection on its own, with an ever-growing delay and
 * no way to stop a retry already scheduled. This connection does its own retrying, so the
 * library's pending retry is cancelled when a media server is dropped.
 */
function dropMediaServer(ms: MediaServer): void {
  try {
    ms.disconnect();
  } catch {
    // already closed
  }
  const conn = (ms as unknown as { conn?: { reconnectVars?: { retryTimer?: NodeJS.Timeout | null } } }).conn;
  const timer = conn?.reconnectVars?.retryTimer;
  if (timer) {
    clearTimeout(timer);
    conn!.reconnectVars!.retryTimer = null;
  }
}

export function connectFreeswitch(opts: FreeswitchConnectionOptions): FreeswitchConnection {
  const { media, logger } = opts;
  const { host, port, secret } = media.freeswitch;
  const retry = opts.retryMs ?? { min: 500, max: 5000 };
  const mrf = new Mrf(opts.srf);
  const log = logger.child({ component: 'freeswitch', address: `${host}:${port}` });

  let current: MediaServer | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | null = null;
  let delay = retry.min;
  let down = false; // logged as unreachable during the current outage
  let attempt: Promise<void> | null = null;
  const waiters = new Set<(ms: MediaServer) => void>();
  const listeners: Array<(connected: boolean) => void> = [];
  const tell = (connected: boolean) => {
    for (const fn of listeners) fn(connected);
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      attempt = tryConnect().finally(() => {
        attempt = null;
      });
    }, delay);
    delay = Math.min(delay * 2, retry.max);
  };

  const markDown = (reason: string) => {
    if (!down) log.warn({ reason }, 'FreeSWITCH is unreachable; calls cannot be anchored until it is back');
    down = true;
    schedule();
  };

  const tryConnect = async (): Promise<void> => {
    if (closed || current) return;
    if (!(await accepts(host, port))) return markDown('event socket not accepting connections');
    let ms: MediaServer;
    try {
      ms = await mrf.connect({
        address: host,
        port,
        secret,
        listenAddress: media.outboundSocket.host,
        listenPort: media.outboundSocket.port,
        ...(media.outboundSocket.advertisedHost ? { advertisedAddress: media.outboundSocket.advertisedHost } : {}),
        profile: 'drachtio_mrf',
      });
    } catch (e) {
      return markDown(e instanceof Error ? e.message : String(e));
    }
    if (closed) {
      dropMediaServer(ms);
      return;
    }
    current = ms;
    delay = retry.min;
    log.info({ sip: ms.sip.ipv4.udp.address, recovered: down }, 'connected to FreeSWITCH');
    down = false;
    ms.on('error', (err: Error) => log.warn({ err: err.message }, 'FreeSWITCH connection error'));
    ms.once('end', () => {
      if (current !== ms) return;
      current = null;
      dropMediaServer(ms);
      markDown('event socket connection closed');
      tell(false);
    });
    for (const w of waiters) w(ms);
    waiters.clear();
    tell(true);
  };

  attempt = tryConnect().finally(() => {
    attempt = null;
  });

  return {
    mediaServer() {
      if (!current || !current.connected()) {
        throw new AppError('unavailable', 'The media server (FreeSWITCH) is not reachable at the moment.');
      }
      return current;
    },
    isConnected() {
      return !!current && current.connected();
    },
    whenConnected(timeoutMs) {
      if (current && current.connected()) return Promise.resolve(current);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiters.delete(ok);
          reject(new AppError('unavailable', `FreeSWITCH did not answer within ${timeoutMs} ms.`));
        }, timeoutMs);
        const ok = (ms: MediaServer) => {
          clearTimeout(t);
          resolve(ms);
        };
        waiters.add(ok);
      });
    },
    onChange(fn) {
      listeners.push(fn);
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await attempt?.catch(() => undefined);
      if (current) dropMediaServer(current);
      current = null;
    },
  };
}
