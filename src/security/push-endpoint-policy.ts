/**
 * Where the service may send Web Push messages. A device names its push endpoint, and the
 * service POSTs to it on every knock: left open, a device could make the service call into its
 * own network (loopback, cloud metadata at 169.254.169.254, private ranges). So an endpoint must
 * be https to a host that is not, and does not resolve to, a special-purpose address (IANA IPv4
 * and IPv6 special-purpose registries), unless its origin is on the configured allow-list
 * (`notify.webpush.allowedEndpointOrigins`: test doubles, a private push service).
 *
 * Checked at registration (the URL, and what its name resolves to then) and again at every send,
 * on the addresses the connection is actually made to (`guardedLookup`), since DNS can change.
 */
import dns, { type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

// IPv4: a block-list of the special-purpose ranges. A BlockList checks an IPv4 address as
// IPv4-mapped IPv6 too, so IPv4 and IPv6 rules live in separate lists.
const SPECIAL_V4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) SPECIAL_V4.addSubnet(net, prefix, 'ipv4');

// IPv6: an allow-list, since the address space holds many ways to reach IPv4 and local networks
// (IPv4-compatible ::/96, mapped, translated, NAT64, SRv6 SIDs, ranges assigned later). Only
// global unicast 2000::/3 is accepted, minus the special-purpose blocks inside it.
const GLOBAL_V6 = new BlockList();
GLOBAL_V6.addSubnet('2000::', 3, 'ipv6');
const SPECIAL_V6 = new BlockList();
for (const [net, prefix] of [
  ['2001::', 23], // IETF protocol assignments (Teredo, which embeds IPv4; ORCHID; benchmarking…)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4, which embeds IPv4
  ['3fff::', 20], // documentation (RFC 9637)
] as const) SPECIAL_V6.addSubnet(net, prefix, 'ipv6');

/** True for loopback, private, link-local and other addresses that are not public unicast. */
export function isSpecialAddress(address: string): boolean {
  // A zone index (fe80::1%eth0) only ever scopes a link-local address.
  if (address.includes('%')) return true;
  const family = isIP(address);
  if (family === 0) return true;
  if (family === 4) return SPECIAL_V4.check(address, 'ipv4');
  return !GLOBAL_V6.check(address, 'ipv6') || SPECIAL_V6.check(address, 'ipv6');
}

/** Origins as `new URL().origin` spells them, for exact comparison. */
export function normaliseOrigins(origins: readonly string[]): Set<string> {
  return new Set(origins.map((o) => new URL(o).origin));
}

const REFUSED_ADDRESS = 'points to a loopback, private or otherwise special-purpose address';

/**
 * What is wrong with an endpoint URL by itself (scheme, credentials, an address literal, a
 * local name), or null. Names are resolved by `resolvedEndpointProblem` and at send time.
 */
export function endpointProblem(endpoint: string, allowed: ReadonlySet<string>): string | null {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not a URL';
  }
  // Credentials in the URL are refused on allowed origins too: a push endpoint never needs them.
  if (url.username || url.password) return 'must not carry a user name or password';
  if (allowed.has(url.origin)) return null;
  if (url.protocol !== 'https:') return 'must use https';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return isSpecialAddress(host) ? REFUSED_ADDRESS : null;
  // RFC 6761: localhost and its subdomains are always loopback.
  if (host === 'localhost' || host.endsWith('.localhost')) return REFUSED_ADDRESS;
  if (!host.includes('.')) return 'must name a public host (a fully qualified name)';
  return null;
}

type Resolver = (host: string) => Promise<LookupAddress[]>;
const systemResolver: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

/** The URL checks, then the endpoint's name resolved now: every address must be public. */
export async function resolvedEndpointProblem(endpoint: string, allowed: ReadonlySet<string>, resolve: Resolver = systemResolver): Promise<string | null> {
  const problem = endpointProblem(endpoint, allowed);
  if (problem) return problem;
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (allowed.has(url.origin) || isIP(host)) return null;
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(host);
  } catch {
    return `names a host that does not resolve (${host})`;
  }
  return addresses.length === 0 || addresses.some((a) => isSpecialAddress(a.address)) ? REFUSED_ADDRESS : null;
}

/** The error a refused connection fails with; the sender reports it as a refusal, not an outage. */
export class SpecialAddressError extends Error {
  readonly code = 'ESPECIALADDRESS';
  constructor(host: string) {
    super(`the push endpoint's host ${host} ${REFUSED_ADDRESS}`);
  }
}

/**
 * A `lookup` for http(s).request: resolves as usual, and fails the connection when any address
 * is special, so the check holds for the address actually connected to at send time.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 4);
    const list = addresses as LookupAddress[];
    if (list.length === 0 || list.some((a) => isSpecialAddress(a.address))) return callback(new SpecialAddressError(hostname), '', 4);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
};
