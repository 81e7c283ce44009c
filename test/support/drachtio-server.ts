/**
 * Runs a real drachtio-server for a test suite: a temporary config file, free loopback ports for
 * SIP (UDP and TCP on the same port), optionally SIP over WebSocket (RFC 7118, the customer app's
 * transport: `sip:127.0.0.1:<port>;transport=ws`), and the admin socket the application connects to.
 *
 * The binary is `drachtio` on PATH, or DRACHTIO_BIN. When neither exists the suites skip with the
 * one line `drachtioAvailable()` returns.
 */
import { serverProcess } from './server-process.js';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DrachtioServer {
  host: '127.0.0.1';
  /** SIP port (UDP and TCP) desk phones and sipp talk to. */
  sipPort: number;
  /** Admin socket port the application (drachtio-srf) connects to. */
  adminPort: number;
  /** SIP over WebSocket port (`startDrachtio({ ws: true })`), else null. */
  wsPort: number | null;
  /** SIP over TLS port (`startDrachtio({ tls })`), else null. */
  tlsPort: number | null;
  /** ws://127.0.0.1:<wsPort> for the app's `sip.wsUrl`, else null. */
  wsUrl: string | null;
  secret: string;
  /** Kills the server and starts it again on the same ports (for reconnection tests). */
  restart(): Promise<void>;
  /** Kills the server without starting it again (stop() is still safe to call); SIGKILL for a crash. */
  kill(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts a killed server again on the same ports. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What the server printed so far (the last ~2 MB). */
  logs(): string;
}


function drachtioBinary(): string {
  return process.env.DRACHTIO_BIN || 'drachtio';
}

/** null when drachtio-server can be run; otherwise the one-line reason the SIP tests skip. */
export function drachtioAvailable(): string | null {
  const bin = drachtioBinary();
  const res = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (res.error || res.status !== 0) {
    return process.env.DRACHTIO_BIN
      ? `drachtio-server not runnable at DRACHTIO_BIN=${bin}`
      : 'drachtio-server not found on PATH (set DRACHTIO_BIN)';
  }
  return null;
}

async function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => resolve(false));
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

/** A loopback port free for TCP (and UDP when asked), chosen by the kernel. */
export async function freePort(opts: { udp?: boolean } = {}): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!opts.udp || (await udpPortFree(port))) return port;
  }
  throw new Error('no free loopback port found');
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function contacts(sipPort: number, wsPort: number | null, tlsPort: number | null = null): string[] {
  const list = [`sip:127.0.0.1:${sipPort};transport=udp,tcp`];
  if (wsPort !== null) list.push(`sip:127.0.0.1:${wsPort};transport=ws`);
  // drachtio-server takes TLS only in the sips: form, and needs a CA list (chain-file).
  if (tlsPort !== null) list.push(`sips:127.0.0.1:${tlsPort};transport=tls`);
  return list;
}

export interface DrachtioTls {
  keyFile: string;
  certFile: string;
  chainFile?: string;
}

function configXml(adminPort: number, sipPort: number, wsPort: number | null, secret: string, sofiaLogLevel: number, tls: DrachtioTls | null = null, tlsPort: number | null = null): string {
  // Admin socket on loopback only; SIP on loopback over UDP and TCP (and WebSocket when asked).
  return `<drachtio>
  <admin port="${adminPort}" secret="${secret}">127.0.0.1</admin>
  <sip>
    <contacts>
${contacts(sipPort, wsPort, tlsPort).map((c) => `      <contact>${c}</contact>`).join('\n')}
    </contacts>${
      tls
        ? `
    <tls>
      <key-file>${tls.keyFile}</key-file>
      <cert-file>${tls.certFile}</cert-file>${tls.chainFile ? `\n      <chain-file>${tls.chainFile}</chain-file>` : ''}
    </tls>`
        : ''
    }
  </sip>
  <cdrs>false</cdrs>
  <logging>
    <console/>
    <sofia-loglevel>${sofiaLogLevel}</sofia-loglevel>
    <loglevel>info</loglevel>
  </logging>
</drachtio>
`;
}

export async function startDrachtio(
  opts: {
    startTimeoutMs?: number;
    /** Also listen for SIP over WebSocket. */
    ws?: boolean;
    /** drachtio-server's log level (default info, which logs every SIP message: too much under load). */
    logLevel?: 'error' | 'warning' | 'notice' | 'info' | 'debug';
    /** sofia-sip's own log level, 0-9 (default 3). */
    sofiaLogLevel?: number;
    /** Also listen for SIP over TLS with this key and certificate. */
    tls?: DrachtioTls;
  } = {},
): Promise<DrachtioServer> {
  const dir = mkdtempSync(join(tmpdir(), 'knock-drachtio-'));
  const secret = randomBytes(8).toString('hex');
  const sipPort = await freePort({ udp: true });
  let adminPort = await freePort();
  while (adminPort === sipPort) adminPort = await freePort();
  let wsPort: number | null = null;
  if (opts.ws) {
    wsPort = await freePort();
    while (wsPort === sipPort || wsPort === adminPort) wsPort = await freePort();
  }
  let tlsPort: number | null = null;
  if (opts.tls) {
    tlsPort = await freePort();
    while (tlsPort === sipPort || tlsPort === adminPort || tlsPort === wsPort) tlsPort = await freePort();
  }
  const confFile = join(dir, 'drachtio.conf.xml');
  writeFileSync(confFile, configXml(adminPort, sipPort, wsPort, secret, opts.sofiaLogLevel ?? 3, opts.tls ?? null, tlsPort));

  // Contacts on the command line override the file's; each one is its own --contact.
  const contactArgs = contacts(sipPort, wsPort, tlsPort).flatMap((c) => ['--contact', c]);
  const server = serverProcess('drachtio-server', drachtioBinary, [
    '-f', confFile, ...contactArgs, '--address', '127.0.0.1', '--port', String(adminPort), '--secret', secret, '--loglevel', opts.logLevel ?? 'info',
    ...(opts.sofiaLogLevel === undefined ? [] : ['--sofia-loglevel', String(opts.sofiaLogLevel)]),
  ]);
  const ready = async () =>
    (await accepts(adminPort)) && (await accepts(sipPort)) && (wsPort === null || (await accepts(wsPort))) && (tlsPort === null || (await accepts(tlsPort)));
  const launch = () => server.start(ready, opts.startTimeoutMs ?? 15_000);

  const kill = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') => {
    await server.stop((proc) => proc.kill(signal), 5000);
    // The same ports are reused on restart; wait until the kernel has let them go.
    for (let i = 0; i < 100; i++) {
      if ((await tcpPortFree(adminPort)) && (await tcpPortFree(sipPort)) && (await udpPortFree(sipPort)) && (wsPort === null || (await tcpPortFree(wsPort)))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  try {
    await launch();
  } catch (e) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    host: '127.0.0.1',
    sipPort,
    adminPort,
    wsPort,
    wsUrl: wsPort === null ? null : `ws://127.0.0.1:${wsPort}`,
    tlsPort,
    secret,
    async restart() {
      await kill();
      await launch();
    },
    kill,
    start: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    logs: () => server.logs(),
  };
}
