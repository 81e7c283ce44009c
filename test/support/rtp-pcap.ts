/**
 * Writes a pcap of G.711 µ-law RTP (a 440 Hz tone, 20 ms packets) for sipp's play_pcap_audio, so
 * a sipp endpoint really speaks during a test. Generated at test time: no binary fixture.
 */
import { writeFileSync } from 'node:fs';

function linearToUlaw(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(Math.abs(sample), CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function ipChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

/** Writes `seconds` of audio as one RTP stream (PT 0, PCMU) and returns the packet count. */
export function writeUlawRtpPcap(path: string, seconds: number): number {
  const packets = Math.round(seconds * 50);
  const chunks: Buffer[] = [];
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0); // microsecond pcap
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16); // snaplen
  global.writeUInt32LE(1, 20); // Ethernet
  chunks.push(global);
  const ssrc = 0x4b4e4f43;
  for (let n = 0; n < packets; n++) {
    const rtp = Buffer.alloc(12 + 160);
    rtp[0] = 0x80;
    rtp[1] = n === 0 ? 0x80 : 0x00; // marker on the first packet, PT 0
    rtp.writeUInt16BE(n & 0xffff, 2);
    rtp.writeUInt32BE((n * 160) >>> 0, 4);
    rtp.writeUInt32BE(ssrc, 8);
    for (let i = 0; i < 160; i++) {
      const t = (n * 160 + i) / 8000;
      rtp[12 + i] = linearToUlaw(Math.round(8000 * Math.sin(2 * Math.PI * 440 * t)));
    }
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(6000, 0);
    udp.writeUInt16BE(7000, 2);
    udp.writeUInt16BE(8 + rtp.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + rtp.length, 2);
    ip[8] = 64;
    ip[9] = 17; // UDP
    ip.set([127, 0, 0, 1], 12);
    ip.set([127, 0, 0, 1], 16);
    ip.writeUInt16BE(ipChecksum(ip), 10);
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    const frame = Buffer.concat([eth, ip, udp, rtp]);
    const rec = Buffer.alloc(16);
    const usec = n * 20_000;
    rec.writeUInt32LE(Math.floor(usec / 1e6), 0);
    rec.writeUInt32LE(usec % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    chunks.push(rec, frame);
  }
  writeFileSync(path, Buffer.concat(chunks));
  return packets;
}
