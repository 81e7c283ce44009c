/**
 * The service as the SIP benchmark parts run it: the whole service (`startService`, SIP on, SMS
 * off, no HTTP port of its own) on the given database, connected to the run's drachtio-server,
 * logging at BENCH_LOG_LEVEL into /dev/null (the logging is paid for, its output is not kept).
 */
import { devNull } from 'node:os';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../src/config/load-config.js';
import { startService, type RunningService } from '../src/service.js';
import type { SipServer } from '../src/sip/sip-server.js';
import type { DrachtioServer } from '../test/support/drachtio-server.js';

export interface BenchService {
  service: RunningService;
  /** The connected SIP side. */
  sip: SipServer;
  logger: Logger;
  /** Stops the service; safe to call more than once. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startSipBenchService(opts: {
  databaseUrl: string;
  drachtio: DrachtioServer;
  /** FreeSWITCH's event socket; a part without media points it at a closed loopback port. */
  freeswitch: { port: number; secret?: string };
  instanceName: string;
  logLevel: string;
}): Promise<BenchService> {
  const { drachtio, logLevel } = opts;
  let service: RunningService | null = null;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await service?.stop();
  };
  try {
    const config = loadConfig({
      DATABASE_URL: opts.databaseUrl,
      KNOCK_SERVER__PORT: '0',
      KNOCK_METRICS__LISTEN: '127.0.0.1:0',
      KNOCK_NOTIFY__SMS__ENABLED: 'false',
      LOG_LEVEL: logLevel,
      KNOCK_SIP__ENABLED: 'true',
      KNOCK_SIP__DRACHTIO__HOST: drachtio.host,
      KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
      KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
      KNOCK_MEDIA__FREESWITCH__PORT: String(opts.freeswitch.port),
      ...(opts.freeswitch.secret ? { KNOCK_MEDIA__FREESWITCH__SECRET: opts.freeswitch.secret } : {}),
    });
    // The destination opens /dev/null itself and keeps it to the end of the process. (It used to
    // be given a descriptor this module closed on stop: pino's flush at exit then wrote to a
    // closed descriptor, and sonic-boom retries a failed synchronous write forever, so
    // `npm run bench:sip` never exited after writing its figures.)
    const logger = pino({ level: logLevel }, pino.destination({ dest: devNull, sync: false, minLength: 8192 }));
    service = await startService(config, { logger, instanceName: opts.instanceName });
    const sip = service.sip!;
    for (let i = 0; i < 150 && !sip.isConnected(); i++) await sleep(100);
    if (!sip.isConnected()) throw new Error('the service did not connect to drachtio-server');
    return { service, sip, logger, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}
