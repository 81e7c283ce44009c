/**
 * The one connection to drachtio-server's admin socket (drachtio-srf). drachtio-srf retries a
 * lost or refused connection by itself with a growing delay; this module caps that delay, says
 * once per outage in the log that the server is unreachable, reports the state for the
 * readiness endpoint, and stops every retry on shutdown.
 *
 * Handlers must be registered on `srf` before `start()`: drachtio-srf tells the server which
 * request methods it wants when it connects (and again after every reconnection).
 */
import Srf from 'drachtio-srf';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { rememberDrachtioAddresses } from './drachtio-addresses.js';

export interface DrachtioConnection {
  readonly srf: Srf;
  isConnected(): boolean;
  /** Calls `fn` on every connection (true) and every loss of it (false). */
  onChange(fn: (connected: boolean) => void): void;
  start(): void;
  stop(): Promise<void>;
}

export interface DrachtioConnectionOptions {
  drachtio: Config['sip']['drachtio'];
  logger: Logger;
  /** Longest wait between reconnection attempts. */
  retryMaxDelayMs?: number;
  /** How often a continuing outage is logged again; by default never (one line per outage, then quiet). */
  stillDownLogMs?: number;
}

/** The parts of drachtio-srf's wire protocol object that shutdown needs (not in its types). */
interface WireInternals {
  closing?: boolean;
  socket?: { destroy(): void };
  reconnectVars?: { retryTimer?: NodeJS.Timeout | null };
}

export function createDrachtioConnection(opts: DrachtioConnectionOptions): DrachtioConnection {
  const { host, port, secret } = opts.drachtio;
  const address = `${host}:${port}`;
  const log = opts.logger.child({ component: 'drachtio', address });
  const srf = new Srf();
  let connected = false;
  const listeners: Array<(connected: boolean) => void> = [];
  const tell = (up: boolean) => {
    for (const fn of listeners) fn(up);
  };
  let started = false;
  let stopped = false;
  let downSince: number | null = null;
  let lastDownLog = 0;
  const stillDownLogMs = opts.stillDownLogMs ?? Number.POSITIVE_INFINITY;

  const reportDown = (why: string) => {
    const now = Date.now();
    if (downSince === null) {
      downSince = now;
      lastDownLog = now;
      log.warn(
        { reason: why },
        `drachtio-server is not reachable at ${address} (${why}): no calls or desk phones until it is; retrying quietly, a line comes when it connects (to run without SIP: sip.enabled=false)`,
      );
    } else if (now - lastDownLog >= stillDownLogMs) {
      lastDownLog = now;
      log.warn({ reason: why, downForSeconds: Math.round((now - downSince) / 1000) }, `drachtio-server still unreachable at ${address}, retrying`);
    } else {
      log.debug({ reason: why }, 'drachtio-server connection attempt failed');
    }
  };

  srf.on('connect', (err: Error | null, hp: string) => {
    if (stopped) {
      safeDisconnect();
      return;
    }
    if (err) {
      // Wrong secret: drachtio-server closes the socket and drachtio-srf tries again.
      reportDown(`drachtio-server refused the connection: ${err.message}`);
      return;
    }
    connected = true;
    rememberDrachtioAddresses(srf, hp);
    const outage = downSince === null ? null : Math.round((Date.now() - downSince) / 1000);
    downSince = null;
    log.info({ sip: hp, ...(outage !== null ? { downForSeconds: outage } : {}) }, `connected to drachtio-server at ${address}`);
    tell(true);
  });
  srf.on('error', (err: Error) => {
    // Without this listener the EventEmitter would throw; the retry is already scheduled.
    if (!stopped) reportDown(err.message);
  });
  // 'close' is not in drachtio-srf's event typings; it fires when the admin socket closes.
  (srf as unknown as NodeJS.EventEmitter).on('close', () => {
    if (!connected) return;
    connected = false;
    if (stopped) return;
    downSince = Date.now();
    lastDownLog = downSince;
    log.warn(`lost the connection to drachtio-server at ${address}, reconnecting`);
    tell(false);
  });

  const wire = (): WireInternals | undefined => (srf as unknown as { _app?: { wp?: WireInternals } })._app?.wp;

  function safeDisconnect() {
    try {
      srf.disconnect();
    } catch {
      // no authenticated socket: nothing to close
    }
  }

  return {
    srf,
    isConnected: () => connected,
    onChange(fn) {
      listeners.push(fn);
    },
    start() {
      if (started) return;
      started = true;
      log.info(`connecting to drachtio-server at ${address}`);
      srf.connect({ host, port, secret, reconnect: { retryMaxDelay: opts.retryMaxDelayMs ?? 5000 } } as Srf.SrfConfig);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const wp = wire();
      if (wp) {
        // drachtio-srf keeps retrying unless told it is closing; a pending retry is cancelled.
        wp.closing = true;
        if (wp.reconnectVars?.retryTimer) {
          clearTimeout(wp.reconnectVars.retryTimer);
          wp.reconnectVars.retryTimer = null;
        }
      }
      if (connected) safeDisconnect();
      else wp?.socket?.destroy();
      connected = false;
      log.info('disconnected from drachtio-server');
    },
  };
}
