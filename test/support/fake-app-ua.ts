/**
 * The customer app's SIP user agent for the callback suites, over UDP on 127.0.0.1: it REGISTERs
 * with a Bearer registration token and a Knock-Device-Proof over the Call-ID, From tag and Contact
 * it chooses (sipp cannot sign them), and it rings when an INVITE comes: 180 with its tag, then
 * 200 + 487 on CANCEL, as a phone that is never picked up in that dialog does. Answering is done
 * by a separate INVITE with Replaces (sipp scenario customer-app-answer-callback).
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { registerProofInput } from '../../src/security/device-proof.js';
import type { SoftDeviceKey } from './soft-authenticator.js';
import { tokenJti } from './verified-customer.js';

/** The Knock-Device-Proof the app signs for one REGISTER (its own context, covering the Contact). */
export function registerProofFor(key: SoftDeviceKey, token: string, callId: string, fromTag: string, contact: string): string {
  return key.sign(registerProofInput({ jti: tokenJti(token), callId, fromTag, contact }));
}

export interface SipMessage {
  startLine: string;
  /** Lower-case header name -> values in order. */
  headers: Map<string, string[]>;
  body: string;
  raw: string;
}

export function parseSip(raw: string): SipMessage {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const lines = (head ?? '').split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return { startLine: lines[0] ?? '', headers, body: rest.join('\r\n\r\n'), raw };
}

export function header(m: SipMessage, name: string): string | undefined {
  return m.headers.get(name.toLowerCase())?.[0];
}

function tagOf(value: string | undefined): string {
  return /;\s*tag=([^;>\s]+)/i.exec(value ?? '')?.[1] ?? '';
}

export interface RingingInvite {
  message: SipMessage;
  callId: string;
  /** The server's tag (From of the INVITE). */
  fromTag: string;
  /** Ours, sent in the 180. */
  toTag: string;
  cancelled: boolean;
  /** The CANCEL's Reason header (RFC 3326), when it had one. */
  cancelReason?: string;
}

export interface RegisterArgs {
  deviceId: string;
  domain: string;
  /** Bearer token; null sends no Authorization header. */
  token: string | null;
  /** Signs the proof once the Call-ID, From tag and Contact URI are chosen; null sends no proof. */
  proof: ((callId: string, fromTag: string, contact: string) => string) | null;
  expires: number;
  /** The Contact URI to register; this UA's own address by default. */
  contact?: string;
}

export class FakeAppUa {
  readonly invites: RingingInvite[] = [];
  private readonly waiters = new Map<string, (m: SipMessage) => void>();

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private readonly remote: { host: string; port: number },
  ) {
    socket.on('message', (buf, rinfo) => this.onMessage(buf.toString('utf8'), rinfo.address, rinfo.port));
  }

  static async start(remote: { host: string; port: number }, port: number): Promise<FakeAppUa> {
    const socket = createSocket('udp4');
    await new Promise<void>((ok, fail) => {
      socket.once('error', fail);
      socket.bind(port, '127.0.0.1', () => ok());
    });
    return new FakeAppUa(socket, port, remote);
  }

  get contact(): string {
    return `sip:app@127.0.0.1:${this.port};transport=udp`;
  }

  /** Sends one REGISTER (retransmitted until answered) and resolves with the final response. */
  async register(args: RegisterArgs): Promise<SipMessage> {
    const callId = `reg-${randomBytes(8).toString('hex')}@127.0.0.1`;
    const fromTag = randomBytes(6).toString('hex');
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const contact = args.contact ?? this.contact;
    const lines = [
      `REGISTER sip:${this.remote.host}:${this.remote.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport`,
      `From: <sip:${args.deviceId}@${args.domain}>;tag=${fromTag}`,
      `To: <sip:${args.deviceId}@${args.domain}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 REGISTER',
      `Contact: <${contact}>`,
      `Expires: ${args.expires}`,
      ...(args.token !== null ? [`Authorization: Bearer ${args.token}`] : []),
      ...(args.proof ? [`Knock-Device-Proof: ${args.proof(callId, fromTag, contact)}`] : []),
      'Max-Forwards: 70',
      'User-Agent: test app',
      'Content-Length: 0',
    ];
    const text = `${lines.join('\r\n')}\r\n\r\n`;
    const response = new Promise<SipMessage>((resolve) => this.waiters.set(branch, resolve));
    let timer: NodeJS.Timeout | undefined;
    const send = (delay: number) => {
      this.socket.send(text, this.remote.port, this.remote.host);
      timer = setTimeout(() => send(Math.min(delay * 2, 4000)), delay);
    };
    send(500);
    try {
      return await response;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(branch);
    }
  }

  private reply(req: SipMessage, status: string, to: { host: string; port: number }, extra: string[] = [], toTag?: string): void {
    const toHeader = header(req, 'To') ?? '';
    const lines = [
      `SIP/2.0 ${status}`,
      ...(req.headers.get('via') ?? []).map((v) => `Via: ${v}`),
      `From: ${header(req, 'From')}`,
      `To: ${toTag && !/;\s*tag=/i.test(toHeader) ? `${toHeader};tag=${toTag}` : toHeader}`,
      `Call-ID: ${header(req, 'Call-ID')}`,
      `CSeq: ${header(req, 'CSeq')}`,
      ...extra,
      'Content-Length: 0',
    ];
    this.socket.send(`${lines.join('\r\n')}\r\n\r\n`, to.port, to.host);
  }

  private onMessage(raw: string, host: string, port: number): void {
    const m = parseSip(raw);
    const from = { host, port };
    if (m.startLine.startsWith('SIP/2.0 ')) {
      const status = Number(m.startLine.split(' ')[1]);
      const branch = /branch=([^;\s]+)/.exec(header(m, 'Via') ?? '')?.[1] ?? '';
      if (status >= 200) this.waiters.get(branch)?.(m);
      return;
    }
    const method = m.startLine.split(' ')[0];
    const callId = header(m, 'Call-ID') ?? '';
    if (method === 'INVITE') {
      let ringing = this.invites.find((i) => i.callId === callId);
      if (!ringing) {
        ringing = { message: m, callId, fromTag: tagOf(header(m, 'From')), toTag: randomBytes(6).toString('hex'), cancelled: false };
        this.invites.push(ringing);
      }
      this.reply(m, '180 Ringing', from, [`Contact: <${this.contact}>`], ringing.toTag);
    } else if (method === 'CANCEL') {
      const ringing = this.invites.find((i) => i.callId === callId);
      this.reply(m, '200 OK', from);
      if (ringing) {
        ringing.cancelled = true;
        const reason = header(m, 'Reason');
        if (reason) ringing.cancelReason = reason;
        this.reply({ ...ringing.message, headers: new Map([...ringing.message.headers, ['cseq', [header(m, 'CSeq')!.replace('CANCEL', 'INVITE')]]]) }, '487 Request Terminated', from, [], ringing.toTag);
      }
    } else if (method === 'OPTIONS' || method === 'BYE') {
      this.reply(m, '200 OK', from);
    }
    // ACK: nothing to do.
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
