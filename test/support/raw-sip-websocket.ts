/**
 * A bare SIP-over-WebSocket client (RFC 7118, subprotocol `sip`) that sends bytes exactly as
 * written, for requests no well-behaved UA would send (e.g. an INVITE without a From tag). It
 * collects the SIP messages the server sends back. RFC 6455 framing with node primitives: masked
 * text frames out, unmasked text frames in.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

export interface RawSipWebSocket {
  send(message: string): void;
  /** Messages received so far (text frames). */
  received: string[];
  /** True once the server closed the connection (or it broke). */
  closed(): boolean;
  close(): void;
}

function frame(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff]) : null;
  if (!head) throw new Error('message too long for this test client');
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}

/** Text frames in `buf`, and what is left of an incomplete one. */
function readFrames(buf: Buffer): { texts: string[]; rest: Buffer } {
  const texts: string[] = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const opcode = buf[at]! & 0x0f;
    let len = buf[at + 1]! & 0x7f;
    let start = at + 2;
    if (len === 126) {
      if (buf.length - at < 4) break;
      len = buf.readUInt16BE(at + 2);
      start = at + 4;
    } else if (len === 127) {
      if (buf.length - at < 10) break;
      len = Number(buf.readBigUInt64BE(at + 2));
      start = at + 10;
    }
    if (buf.length < start + len) break;
    if (opcode === 0x1) texts.push(buf.subarray(start, start + len).toString('utf8'));
    at = start + len;
  }
  return { texts, rest: buf.subarray(at) };
}

export function connectRawSipWebSocket(url: string): Promise<RawSipWebSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({
      host: hostname,
      port: Number(port),
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Protocol': 'sip',
      },
    });
    req.once('error', reject);
    req.once('response', (res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
    req.once('upgrade', (_res, socket: Socket, head: Buffer) => {
      const received: string[] = [];
      let pending = head;
      let closed = false;
      socket.on('data', (chunk: Buffer) => {
        const { texts, rest } = readFrames(Buffer.concat([pending, chunk]));
        received.push(...texts);
        pending = rest;
      });
      socket.on('close', () => {
        closed = true;
      });
      socket.on('error', () => {
        closed = true;
      });
      resolve({
        send: (message) => socket.write(frame(message)),
        received,
        closed: () => closed,
        close: () => socket.destroy(),
      });
    });
    req.end();
  });
}
