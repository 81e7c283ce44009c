/**
 * The media adapter against a real drachtio-server and a real FreeSWITCH running the project's
 * freeswitch/ configuration: connecting, anchoring a caller with hold music (RTP both ways),
 * and coming back after FreeSWITCH restarts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Srf from 'drachtio-srf';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import { connectFreeswitch, type FreeswitchConnection } from '../../src/media/freeswitch-connection.js';
import { anchorCaller, releaseEndpoint, startHoldMusic, type MediaEndpoint } from '../../src/media/media-legs.js';
import { rtpCounters } from '../../src/media/media-stats.js';
import { drachtioAvailable, startDrachtio, type DrachtioServer } from '../support/drachtio-server.js';
import { carriesAudio } from '../support/call-center.js';
import { freeswitchAvailable, startFreeswitch, type FreeswitchServer } from '../support/freeswitch-server.js';
import { writeUlawRtpPcap } from '../support/rtp-pcap.js';
import { runSipp, sippAvailable } from '../support/sipp.js';
import { waitFor } from '../support/wait-for.js';

describe('media: FreeSWITCH connection and anchored calls (real drachtio-server + FreeSWITCH)', function () {
  this.timeout(90_000);
  let drachtio: DrachtioServer;
  let fs: FreeswitchServer;
  let srf: Srf;
  let media: FreeswitchConnection;
  let workDir: string;
  const logs: string[] = [];

  before(async function () {
    const missing = drachtioAvailable() ?? freeswitchAvailable() ?? sippAvailable();
    if (missing) {
      console.log(`    SIP tests skipped: ${missing}`);
      this.skip();
    }
    workDir = mkdtempSync(join(tmpdir(), 'knock-media-'));
    [drachtio, fs] = await Promise.all([startDrachtio(), startFreeswitch()]);
    srf = new Srf();
    await new Promise<void>((resolve, reject) => {
      srf.once('connect', () => resolve());
      srf.once('error', reject);
      srf.connect({ host: drachtio.host, port: drachtio.adminPort, secret: drachtio.secret });
    });
    const config = loadConfig({ KNOCK_MEDIA__FREESWITCH__PORT: String(fs.eslPort), KNOCK_MEDIA__FREESWITCH__SECRET: fs.eslSecret });
    const logger = pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) });
    media = connectFreeswitch({ srf, media: config.media, logger, retryMs: { min: 200, max: 1000 } });
    await media.whenConnected(20_000);
  });

  after(async function () {
    await media?.close();
    srf?.disconnect();
    await fs?.stop();
    await drachtio?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('anchors a caller in FreeSWITCH, plays hold music, and RTP flows both ways', async function () {
    const endpoints: MediaEndpoint[] = [];
    srf.invite(async (req, res) => {
      const { endpoint, dialog } = await anchorCaller(media.mediaServer(), req, res, { 'Session-ID': 'ab'.repeat(16) });
      endpoints.push(endpoint);
      startHoldMusic(endpoint, 'tone_stream://%(300,0,523);%(300,0,659);loops=-1', pino({ level: 'silent' }));
      dialog.on('destroy', () => void releaseEndpoint(endpoint));
    });
    const pcap = join(workDir, 'caller.pcap');
    const sent = writeUlawRtpPcap(pcap, 3);
    const call = runSipp({
      scenario: 'customer-call',
      remote: `127.0.0.1:${drachtio.sipPort}`,
      service: 'queue',
      vars: { token: 'none', from_tag: 'media-test', proof: 'none', pcap, talk_ms: '6000' },
      timeoutMs: 30_000,
    });
    // While the caller talks: FreeSWITCH hears the caller and sends hold music back.
    const counters = await waitFor('RTP both ways on the anchored leg', async () => {
      const ep = endpoints[0];
      const c = ep ? await rtpCounters((cmd) => fs.api(cmd), ep.uuid) : null;
      return carriesAudio(c, 100) ? c! : null;
    });
    await call;
    console.log(`      anchored leg: ${counters.inPackets} RTP packets in (caller sent ${sent}), ${counters.outPackets} out (hold music)`);
    assert.ok(counters.inPackets <= sent);
    // The caller's BYE releases the FreeSWITCH channel despite the endless hold music.
    await waitFor('the FreeSWITCH channel to be released', async () => /^0 total/m.test(await fs.api('show channels')));
  });

  it('says it is down while FreeSWITCH restarts, and reconnects by itself', async function () {
    assert.equal(media.isConnected(), true);
    const restarted = fs.restart();
    await waitFor('the connection to notice FreeSWITCH is gone', () => !media.isConnected(), 30_000);
    assert.throws(() => media.mediaServer(), (e: any) => e.code === 'unavailable');
    await restarted;
    await waitFor('the connection to come back', () => media.isConnected(), 30_000);
    assert.match(await media.mediaServer().api('sofia status'), /drachtio_mrf/);
    assert.ok(logs.some((l) => l.includes('FreeSWITCH is unreachable')));
  });
});
