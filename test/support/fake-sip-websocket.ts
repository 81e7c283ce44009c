/**
 * A SIP-over-WebSocket endpoint (RFC 7118) on 127.0.0.1 that stands where the SIP server's
 * WebSocket listener will be, so browser tests can see the customer app's INVITE as it leaves the
 * page: its Authorization header (RFC 8898 bearer token) and its SDP. It answers 100 Trying at
 * once and holds the final answer until the test gives one (e.g. 403 with a Warning).
 *
 * The WebSocket framing (RFC 6455) is written here with node:net primitives: text frames only,
 * which is all sip.js sends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseSip, type SipMessage } from './fake-app-ua.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface ReceivedInvite {
  raw: string;
  requestUri: string;
  /** First value of a header (case-insensitive name). */
  header(name: string): string | undefined;
  body: string;
  /** Sends the final response (e.g. 403 Forbidden with a Warning). */
  reject(status: number, phrase: string, headers?: Record<string, string>): void;
}

export interface FakeSipWebSocket {
  /** ws://127.0.0.1:<port> */
  url: string;
  invites: ReceivedInvite[];
  /** Resolves with the next INVITE (or one already received and not yet taken). */
  nextInvite(timeoutMs?: number): Promise<ReceivedInvite>;
  close(): Promise<void>;
}

function frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([0x81, payload.length]);
  else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Splits complete frames off the buffer; returns [opcode, payload] pairs and the rest. */
function readFrames(buffer: Buffer): { frames: Array<[number, Buffer]>; rest: Buffer } {
  const frames: Array<[number, Buffer]> = [];
  let offset = 0;
  for (;;) {
    if (buffer.length - offset < 2) break;
    const opcode = buffer[offset]! & 0x0f;
    const masked = (buffer[offset + 1]! & 0x80) !== 0;
    let length = buffer[offset + 1]! & 0x7f;
    let pos = offset + 2;
    if (length === 126) {
      if (buffer.length < pos + 2) break;
      length = buffer.readUInt16BE(pos);
      pos += 2;
    } else if (length === 127) {
      if (buffer.length < pos + 8) break;
      length = Number(buffer.readBigUInt64BE(pos));
      pos += 8;
    }
    const maskLength = masked ? 4 : 0;
    if (buffer.length < pos + maskLength + length) break;
    const mask = masked ? buffer.subarray(pos, pos + 4) : null;
    pos += maskLength;
    const payload = Buffer.from(buffer.subarray(pos, pos + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    frames.push([opcode, payload]);
    offset = pos + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

const COMPACT: Record<string, string> = { v: 'via', f: 'from', t: 'to', i: 'call-id', m: 'contact', l: 'content-length', c: 'content-type' };
const canonical = (name: string) => COMPACT[name.toLowerCase()] ?? name.toLowerCase();

/** The values of one header in order, whether sent by its full or its compact name. */
function headerValues(m: SipMessage, name: string): string[] {
  const wanted = canonical(name);
  return [...m.headers].filter(([n]) => canonical(n) === wanted).flatMap(([, values]) => values);
}

export async function startFakeSipWebSocket(): Promise<FakeSipWebSocket> {
  const invites: ReceivedInvite[] = [];
  let taken = 0;
  const waiters: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((_req, res) => {
    res.statusCode = 426;
    res.end('WebSocket only');
  });

  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const key = req.headers['sec-websocket-key'];
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (typeof key !== 'string' || !protocols.includes('sip')) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: sip\r\n\r\n`);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => sockets.delete(socket));
    const send = (text: string) => {
      if (!socket.destroyed) socket.write(frame(text));
    };
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      const { frames, rest } = readFrames(Buffer.concat([buffer, chunk]));
      buffer = rest;
      for (const [opcode, payload] of frames) {
        if (opcode === 0x8) {
          socket.end(Buffer.from([0x88, 0]));
          return;
        }
        if (opcode === 0x9) {
          socket.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload]));
          continue;
        }
        if (opcode !== 0x1) continue;
        onSipMessage(payload.toString('utf8'), send);
      }
    });
  });

  function respond(send: (t: string) => void, request: SipMessage, status: number, phrase: string, extra: Record<string, string> = {}, toTag?: string) {
    const pick = (name: string) => headerValues(request, name);
    const lines = [`SIP/2.0 ${status} ${phrase}`];
    for (const via of pick('via')) lines.push(`Via: ${via}`);
    lines.push(`From: ${pick('from')[0] ?? ''}`);
    const to = pick('to')[0] ?? '';
    lines.push(`To: ${toTag && !/;tag=/i.test(to) ? `${to};tag=${toTag}` : to}`);
    lines.push(`Call-ID: ${pick('call-id')[0] ?? ''}`);
    lines.push(`CSeq: ${pick('cseq')[0] ?? ''}`);
    for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
    lines.push('Content-Length: 0', '', '');
    send(lines.join('\r\n'));
  }

  function onSipMessage(raw: string, send: (t: string) => void) {
    if (!raw.trim()) return; // keep-alive
    const request = parseSip(raw);
    const { startLine, body } = request;
    const method = /^([A-Z]+) /.exec(startLine)?.[1];
    if (!method || startLine.startsWith('SIP/2.0')) return;
    if (method === 'ACK') return;
    if (method !== 'INVITE') {
      respond(send, request, 200, 'OK');
      return;
    }
    const toTag = randomBytes(4).toString('hex');
    respond(send, request, 100, 'Trying');
    let answered = false;
    const invite: ReceivedInvite = {
      raw,
      requestUri: startLine.split(' ')[1] ?? '',
      body,
      header: (name) => headerValues(request, name)[0],
      reject(status, phrase, extra = {}) {
        if (answered) return;
        answered = true;
        respond(send, request, status, phrase, extra, toTag);
      },
    };
    invites.push(invite);
    waiters.splice(0).forEach((w) => w());
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `ws://127.0.0.1:${port}`,
    invites,
    async nextInvite(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      while (invites.length <= taken) {
        const left = until - Date.now();
        if (left <= 0) throw new Error('no INVITE reached the SIP WebSocket endpoint');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return invites[taken++]!;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
