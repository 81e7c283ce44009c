/**
 * The pages service on real SIP and media, for browser suites that place calls: a FreeSWITCH, a
 * drachtio-server with its WebSocket listener (the app's SIP goes straight to it), the service
 * connected to both, the people of web-pages.ts, and the agent's desk phone (sipp) registered
 * with its extension and password (digest).
 */
import { browserSkipReason } from './browser.js';
import { drachtioAvailable, freePort, startDrachtio, type DrachtioServer } from './drachtio-server.js';
import { freeswitchAvailable, startFreeswitch, type FreeswitchServer } from './freeswitch-server.js';
import { runSipp, sippAvailable } from './sipp.js';
import { waitFor } from './wait-for.js';
import { AGENT, setUpPeople, startPagesService, type PagesService, type People } from './web-pages.js';

/** The one line such a suite prints when chromium, drachtio-server, FreeSWITCH or sipp is missing. */
export function sipPagesSkipReason(suite: string): string | null {
  const missing = browserSkipReason() ?? drachtioAvailable() ?? freeswitchAvailable() ?? sippAvailable();
  return missing ? `${suite} skipped: ${missing.replace(/^browser tests skipped: /, '')}` : null;
}

export interface SipPages {
  fs: FreeswitchServer;
  drachtio: DrachtioServer;
  svc: PagesService;
  people: People;
  /** The UDP port the agent's desk phone registered from (start its sipp there). */
  deskPhonePort: number;
  /** drachtio-server and FreeSWITCH, for closePagesAfterSuite's `others` (it stops the service). */
  servers: Array<{ close(): Promise<unknown> }>;
}

export async function startSipPages(env: Record<string, string> = {}): Promise<SipPages> {
  const fs = await startFreeswitch();
  const servers: SipPages['servers'] = [{ close: () => fs.stop() }];
  let svc: PagesService | undefined;
  try {
    const drachtio = await startDrachtio({ ws: true });
    servers.unshift({ close: () => drachtio.stop() });
    svc = await startPagesService({
      KNOCK_SIP__ENABLED: 'true',
      KNOCK_SIP__DRACHTIO__HOST: drachtio.host,
      KNOCK_SIP__DRACHTIO__PORT: String(drachtio.adminPort),
      KNOCK_SIP__DRACHTIO__SECRET: drachtio.secret,
      KNOCK_SIP__WS_URL: drachtio.wsUrl!,
      KNOCK_MEDIA__FREESWITCH__PORT: String(fs.eslPort),
      KNOCK_MEDIA__FREESWITCH__SECRET: fs.eslSecret,
      ...env,
    });
    const t = svc.t;
    await waitFor('the service to connect to drachtio-server', () => t.service.sip?.isConnected(), 15_000);
    await t.service.customerCalls!.media.whenConnected(20_000);
    const people = await setUpPeople(t);
    const deskPhonePort = await freePort({ udp: true });
    await runSipp({
      scenario: 'register-ok',
      remote: `127.0.0.1:${drachtio.sipPort}`,
      localPort: deskPhonePort,
      timeoutMs: 10_000,
      vars: { user: AGENT.extension, expires: '600' },
      extraArgs: ['-au', AGENT.extension, '-ap', AGENT.password],
    });
    return { fs, drachtio, svc, people, deskPhonePort, servers };
  } catch (e) {
    // Nothing is handed back to the suite, so stop what was started here.
    await svc?.t.stop();
    for (const s of servers) await s.close();
    throw e;
  }
}
