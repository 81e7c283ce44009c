/**
 * drachtio-server's own SIP addresses (what it told us when we connected: `tcp/10.0.0.5:5060,
 * udp/10.0.0.5:5060`), and the one place that uses them: the From of a request we start.
 *
 * drachtio-server 0.9.10 rewrites a From whose text contains "localhost" (a default domain such
 * as `knock.localhost`) with the host and port of the transport it picked. When it reuses the
 * connection a phone registered over (TCP, TLS, WebSocket: RFC 5626-style flow reuse, by the
 * Contact's user and host) it leaves that host empty, cannot build the From, and fails the
 * request (`doSendRequestOutsideDialog - Error creating leg`). We put its address in ourselves,
 * as it would have.
 */
import type Srf from 'drachtio-srf';
import { perConnection } from './per-connection.js';

interface Addresses {
  /** transport (lower case) → host:port */
  byTransport: Map<string, string>;
}

const addresses = perConnection<Addresses>(() => ({ byTransport: new Map() }));

/** Remembers drachtio-server's SIP addresses from its connect message (`proto/host:port,…`). */
export function rememberDrachtioAddresses(srf: Srf, hostports: string | string[] | undefined): void {
  const list = (Array.isArray(hostports) ? hostports.join(',') : (hostports ?? '')).split(',');
  const map = addresses(srf).byTransport;
  map.clear();
  for (const hp of list) {
    const m = /^\s*([a-z]+)\/(.+:\d+)\s*$/i.exec(hp);
    if (m && !map.has(m[1]!.toLowerCase())) map.set(m[1]!.toLowerCase(), m[2]!);
  }
}

/** drachtio-server's host:port for a transport, when it told us one. */
export function drachtioAddress(srf: Srf, transport: string): string | null {
  const map = addresses(srf).byTransport;
  return map.get(transport.toLowerCase()) ?? map.values().next().value ?? null;
}

/** The transport a request to this URI (the next hop's, when there is a proxy) goes over. */
export function transportOf(uri: string): string {
  const m = /;\s*transport=([a-z]+)/i.exec(uri);
  if (m) return m[1]!.toLowerCase();
  return /^sips:/i.test(uri) ? 'tls' : 'udp';
}

/**
 * The From to send over a reused connection of `transport`: a host containing "localhost" is
 * replaced with drachtio-server's address for that transport (what drachtio-server itself does
 * for new connections). Other Froms, and UDP, are left as they are.
 */
export function fromForConnection(srf: Srf, from: string, transport: string): string {
  if (transport.toLowerCase() === 'udp' || !/localhost/i.test(from)) return from;
  const address = drachtioAddress(srf, transport);
  const m = /^(.*<\s*sips?:(?:[^@>]*@)?)([^;>]+)(.*)$/is.exec(from) ?? /^(\s*sips?:(?:[^@;]*@)?)([^;]+)(.*)$/is.exec(from);
  if (!m) return from;
  const [, head, host, tail] = m as unknown as [string, string, string, string];
  if (!address || !/localhost/i.test(host)) return from;
  // A display name saying "localhost" would set drachtio-server's rewrite off again: drop it.
  const named = `${head}${address}${tail}`;
  return /localhost/i.test(named) ? named.replace(/^[^<]*</, '<') : named;
}
