/**
 * A real drachtio-server plus the whole service connected to it (fresh database, SIP on), for the
 * SIP suites. `sipSkipReason()` is the one line a suite prints when drachtio-server or sipp is
 * missing.
 */
import { drachtioAvailable, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { sippAvailable } from './sipp.js';
import { startTestService, type TestService } from './test-service.js';
import { waitFor } from './wait-for.js';

export function sipSkipReason(): string | null {
  const missing = drachtioAvailable() ?? sippAvailable();
  return missing ? `SIP tests skipped: ${missing}` : null;
}

export interface SipTestEnv {
  drachtio: DrachtioServer;
  svc: TestService;
  /** host:port sipp sends to. */
  remote: string;
  stop(): Promise<void>;
}

export async function startSipTestEnv(env: Record<string, string> = {}, drachtioOptions: Parameters<typeof startDrachtio>[0] = {}): Promise<SipTestEnv> {
  const drachtio = await startDrachtio(drachtioOptions);
  let svc: TestService;
  try {
    svc = await startTestService({
      KNOCK_SIP__ENABLED: 'true',
      KNOCK_SIP__DRACHTIO__HOST: drachtio.host,
      KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
      KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
      ...env,
    });
  } catch (e) {
    await drachtio.stop();
    throw e;
  }
  const sip = svc.service.sip;
  if (!sip) throw new Error('the service started without SIP');
  await waitFor('the service to connect to drachtio-server', () => sip.isConnected(), 15_000);
  return {
    drachtio,
    svc,
    remote: `127.0.0.1:${drachtio.sipPort}`,
    async stop() {
      await svc.stop();
      await drachtio.stop();
    },
  };
}
