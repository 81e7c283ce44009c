/**
 * A real softphone as an agent's desk phone: baresip (Debian's baresip-core) with its own config
 * directory, one account, SIP on 127.0.0.1 over UDP or TCP, answering every call at once
 * (`answermode auto`), speaking a WAV file (aufile) and driven over its control socket
 * (ctrl_tcp: netstring-framed JSON commands and events).
 *
 * The binary is `baresip` on PATH, or BARESIP_BIN; `baresipAvailable()` gives the one-line skip
 * reason.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './drachtio-server.js';
import { waitFor } from './wait-for.js';

function baresipBinary(): string {
  return process.env.BARESIP_BIN || 'baresip';
}

/** null when baresip can be run; otherwise the one-line reason its tests skip. */
export function baresipAvailable(): string | null {
  const res = spawnSync(baresipBinary(), ['-h'], { encoding: 'utf8', timeout: 10_000 });
  if (res.error || !/baresip v\d/.test(`${res.stdout}${res.stderr}`)) {
    return process.env.BARESIP_BIN ? `baresip not runnable at BARESIP_BIN=${baresipBinary()}` : 'baresip not found on PATH (install baresip-core or set BARESIP_BIN)';
  }
  return null;
}

/** A mono 8 kHz 16-bit WAV of a 440 Hz tone, `seconds` long (what the phone's microphone says). */
function writeToneWav(path: string, seconds: number): void {
  const rate = 8000;
  const samples = rate * seconds;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([header, data]));
}

export interface BaresipEvent {
  event?: boolean;
  response?: boolean;
  type?: string;
  class?: string;
  param?: string;
  data?: string;
  ok?: boolean;
  token?: string;
  [k: string]: unknown;
}

export interface Baresip {
  /** The local SIP port (UDP and TCP). */
  sipPort: number;
  transport: 'udp' | 'tcp' | 'tls';
  /** Every event and response received on the control socket so far. */
  events: BaresipEvent[];
  /** Sends a command (e.g. `hangup`, `reginfo`) and resolves with its response. */
  command(command: string, params?: string): Promise<BaresipEvent>;
  /** Resolves with the first event (past or future) the predicate accepts. */
  waitForEvent(what: string, match: (e: BaresipEvent) => boolean, timeoutMs?: number): Promise<BaresipEvent>;
  /** What baresip printed so far. */
  output(): string;
  /** Kills baresip without a goodbye (no de-registration): its connections just close. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface BaresipOptions {
  /** The extension (username) and its password. */
  user: string;
  password: string;
  /** drachtio-server's SIP address, host:port. */
  registrar: string;
  transport: 'udp' | 'tcp' | 'tls';
  /** For TLS: the CA certificate that signed the server's (PEM). */
  caFile?: string;
  /** Registration interval asked for (seconds). */
  regint?: number;
  /**
   * Extensions whose presence the phone watches (its contact list with `;presence=p2p`, the
   * presence module: SUBSCRIBE presence, RFC 3856); it prints "<uri> changed status from … to …".
   */
  watch?: string[];
  /**
   * Media encryption the account asks for (`mediaenc`, the srtp module): `srtp` offers SDES-SRTP
   * keys (a=crypto) on a plain RTP/AVP line and takes plain RTP too, `srtp-mand` offers and
   * accepts RTP/SAVP only.
   */
  mediaenc?: 'srtp' | 'srtp-mand';
  /** Extra account parameters (`;name=value` after the AOR), e.g. RFC 5626 outbound. */
  accountParams?: string;
  /** Extra modules to load (e.g. `uuid.so`). */
  modules?: string[];
  /** Extra application modules (e.g. `mwi.so`, the message lamp's SUBSCRIBE). */
  appModules?: string[];
  /** Print every SIP message sent and received (`-s`), to be read with `output()`. */
  sipTrace?: boolean;
  /**
   * The phone's instance (RFC 5626 `+sip.instance`): loads the uuid module with this UUID, as a
   * phone that restarts keeps it.
   */
  instanceUuid?: string;
}

/**
 * A free SIP port whose next port is free too: baresip listens for TLS on the SIP port + 1, and
 * on a busy machine that odd port is often the local end of some outgoing connection (Linux gives
 * bind(0) even ports and connect() odd ones), which stopped baresip with "Address already in use".
 */
async function sipPortWithTlsBeside(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort({ udp: true });
    if (await tcpPortFree(port + 1)) return port;
  }
  return freePort({ udp: true });
}

function tcpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Starts baresip and waits for its control socket; the account registers by itself. */
export async function startBaresip(opts: BaresipOptions): Promise<Baresip> {
  const dir = mkdtempSync(join(tmpdir(), 'knock-baresip-'));
  const sipPort = await sipPortWithTlsBeside();
  const ctrlPort = await freePort();
  const wav = join(dir, 'tone.wav');
  writeToneWav(wav, 60);
  if (opts.instanceUuid) writeFileSync(join(dir, 'uuid'), opts.instanceUuid);
  // No sound card: the microphone is the WAV file; what the phone hears goes to an aubridge
  // device nobody reads.
  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen 127.0.0.1:${sipPort}`,
      'call_local_timeout 120',
      `audio_player aubridge,unheard`,
      `audio_source aufile,${wav}`,
      `audio_alert aubridge,unheard`,
      'audio_level no',
      'jitter_buffer_delay 1-10',
      ...(opts.caFile ? [`sip_cafile ${opts.caFile}`] : []),
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module aubridge.so',
      ...(opts.mediaenc ? ['module srtp.so'] : []),
      ...[...(opts.modules ?? []), ...(opts.instanceUuid && !opts.modules?.includes('uuid.so') ? ['uuid.so'] : [])].map((m) => `module ${m}`),
      'module_tmp account.so',
      'module_app menu.so', // the commands ctrl_tcp runs (transfer, hangup, …)
      'module_app ctrl_tcp.so',
      ...(opts.watch?.length ? ['module_app contact.so', 'module_app presence.so'] : []),
      ...(opts.appModules ?? []).filter((m) => !(opts.watch?.length && /^(contact|presence)\.so$/.test(m))).map((m) => `module_app ${m}`),
      `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
      '',
    ].join('\n'),
  );
  const [host, port] = opts.registrar.split(':') as [string, string];
  const aor = `sip:${opts.user}@${host}:${port};transport=${opts.transport}`;
  writeFileSync(
    join(dir, 'accounts'),
    `<${aor}>;auth_user=${opts.user};auth_pass=${opts.password};answermode=auto;regint=${opts.regint ?? 600};audio_codecs=PCMU${opts.mediaenc ? `;mediaenc=${opts.mediaenc}` : ''}${opts.accountParams ?? ''}\n`,
  );
  writeFileSync(join(dir, 'contacts'), (opts.watch ?? []).map((ext) => `<sip:${ext}@${host}:${port};transport=${opts.transport}>;presence=p2p\n`).join(''));

  const child: ChildProcess = spawn(baresipBinary(), ['-f', dir, ...(opts.sipTrace ? ['-s'] : [])], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (c: Buffer) => {
    out += c.toString('utf8');
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const events: BaresipEvent[] = [];
  const waiters: Array<{ match: (e: BaresipEvent) => boolean; resolve: (e: BaresipEvent) => void }> = [];
  let socket: Socket | null = null;
  let buf = Buffer.alloc(0);
  let tokenSeq = 0;

  const deliver = (e: BaresipEvent) => {
    events.push(e);
    for (const w of [...waiters]) {
      if (w.match(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
    }
  };
  // Netstrings: "<length>:<payload>,".
  const onSocketData = (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      const colon = buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(buf.subarray(0, colon).toString('ascii'));
      if (buf.length < colon + 1 + len + 1) return;
      const payload = buf.subarray(colon + 1, colon + 1 + len).toString('utf8');
      buf = buf.subarray(colon + 2 + len);
      try {
        deliver(JSON.parse(payload) as BaresipEvent);
      } catch {
        // not JSON: ignore
      }
    }
  };

  const stop = async () => {
    socket?.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    socket = await waitFor(
      'baresip to listen on its control socket',
      () =>
        new Promise<Socket | null>((resolve) => {
          if (child.exitCode !== null) throw new Error(`baresip exited: ${out.slice(-2000)}`);
          const s = connect({ host: '127.0.0.1', port: ctrlPort });
          s.once('connect', () => resolve(s));
          s.once('error', () => resolve(null));
        }),
      10_000,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  socket.on('data', onSocketData);
  socket.on('error', () => undefined);

  const waitForEvent = (what: string, match: (e: BaresipEvent) => boolean, timeoutMs = 20_000) => {
    const past = events.find(match);
    if (past) return Promise.resolve(past);
    return new Promise<BaresipEvent>((resolve, reject) => {
      const w = {
        match,
        resolve: (e: BaresipEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`baresip (${opts.user}, ${opts.transport}): no ${what} within ${timeoutMs} ms; events: ${JSON.stringify(events.slice(-10))}\n${out.slice(-3000)}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };

  return {
    sipPort,
    transport: opts.transport,
    events,
    command(command, params) {
      const token = `t${++tokenSeq}`;
      const body = Buffer.from(JSON.stringify({ command, params: params ?? '', token }), 'utf8');
      socket!.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]));
      return waitForEvent(`response to ${command}`, (e) => e.response === true && e.token === token, 10_000);
    },
    waitForEvent,
    output: () => out,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    stop,
  };
}

/** True for baresip's event that its account registered. */
export const registered = (e: BaresipEvent) => e.event === true && e.type === 'REGISTER_OK';
