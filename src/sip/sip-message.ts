/**
 * Small helpers over drachtio-srf's request/response objects: typed aliases, answering with
 * several headers of one name, reading URIs, and the Warning header (RFC 3261 §20.43) phones
 * show on their display.
 */
import { createRequire } from 'node:module';
import type Srf from 'drachtio-srf';

export type SipRequest = Srf.SrfRequest;
export type SipResponse = Srf.SrfResponse;

/** Header values; an array becomes one header line per value (e.g. one challenge per algorithm). */
export type ResponseHeaders = Record<string, string | string[]>;

function flatten(headers: ResponseHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    // drachtio-srf writes `name: value` per entry; separate lines keep parsers that read only
    // the first challenge of a comma-joined header working.
    out[name] = Array.isArray(value) ? value.join(`\r\n${name}: `) : value;
  }
  return out;
}

/** Sends a final (or provisional) response unless one was already sent. */
export function sendResponse(res: SipResponse, status: number, reason?: string, headers: ResponseHeaders = {}, body?: string): void {
  if (res.finalResponseSent) return;
  const opts: { headers: Record<string, string>; body?: string } = { headers: flatten(headers) };
  if (body !== undefined) opts.body = body;
  if (reason) res.send(status, reason, opts);
  else res.send(status, opts);
}

/** "udp/192.0.2.10:5060": where the request came from, as the registrar records it. */
export function sourceOf(req: SipRequest): string {
  return `${(req.protocol || 'udp').toLowerCase()}/${req.source_address}:${req.source_port}`;
}


// drachtio-srf's own From/To parser (RFC 3261 §20.20, §25.1 grammar), which drachtio-srf does
// not export by name.
const sipParser = createRequire(import.meta.url)('drachtio-srf/lib/sip-parser/parser.js') as {
  getParser(header: string): (data: { s: string; i: number }) => { uri?: string; params?: Record<string, string | undefined> };
};
const parseNameAddr = sipParser.getParser('from');
const TOKEN = /^[\w\-.!%*+`'~]+$/;

/**
 * The tag parameter of a From or To header value, or null. Only a header parameter counts: after
 * the `>` of a name-addr, or after the URI of an addr-spec (§20.10); `;tag=` inside a quoted
 * display name or inside the URI is not a tag. A tag that is not a token, or a value that does
 * not parse, gives null.
 */
export function tagOf(headerValue: string | undefined): string | null {
  if (!headerValue?.trim()) return null;
  try {
    const tag = parseNameAddr({ s: headerValue, i: 0 }).params?.tag;
    return tag && TOKEN.test(tag) ? tag : null;
  } catch {
    return null;
  }
}

/**
 * The URI of a name-addr or addr-spec ("\"Anna\" <sip:1001@host>;tag=x" -> "sip:1001@host"), read
 * with the same parser as tags, so a `<` or `;` in a quoted display name cannot move it.
 */
export function addrSpec(nameAddr: string): string {
  try {
    const uri = parseNameAddr({ s: nameAddr.trim(), i: 0 }).uri;
    if (uri) return uri.trim();
  } catch {
    // not a name-addr drachtio-srf can read: fall back to the simple reading below
  }
  const m = /<([^>]*)>/.exec(nameAddr);
  if (m) return m[1]!.trim();
  return nameAddr.split(';')[0]!.trim();
}

/** The tag parameter of the From header (RFC 3261 §8.1.1.3); empty when there is none. */
export function fromTagOf(req: SipRequest): string {
  return tagOf(req.get('From')) ?? '';
}

/** The dialog a Replaces value names (RFC 3891 §6.1: `call-id;to-tag=…;from-tag=…`); tags may be empty. */
export interface ReplacesTarget {
  callId: string;
  toTag: string;
  fromTag: string;
}

/** Parses a Replaces value (the header, or the unescaped `?Replaces=` of a Refer-To); null without a Call-ID. */
export function parseReplaces(value: string): ReplacesTarget | null {
  const [callId, ...params] = value.split(';').map((p) => p.trim());
  if (!callId) return null;
  const param = (name: string) => params.find((p) => p.toLowerCase().startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
  return { callId, toTag: param('to-tag'), fromTag: param('from-tag') };
}

/** The user part of a SIP URI, unescaped; null when there is none. */
export function uriUser(uri: string): string | null {
  const m = /^sips?:([^@;?]+)@/i.exec(uri.trim());
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1]!;
  }
}

/** The host part of a SIP URI (without port). */
export function uriHost(uri: string): string | null {
  const m = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;?>]+)/i.exec(uri.trim());
  return m ? m[1]!.toLowerCase() : null;
}

/**
 * Free text (a display name, a reference) made safe for one header value: control characters
 * (CR/LF above all: they would start a new header, RFC 3261 §7.3.1) become spaces, and quotes and
 * backslashes, which would end or escape a quoted-string (§25.1), become apostrophes.
 */
export function headerText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/["\\]/g, "'").trim().slice(0, 200);
}

/** A Warning value phones may show as text (code 399: miscellaneous warning). */
export function warning(agentHost: string, text: string): string {
  return `399 ${agentHost} "${headerText(text)}"`;
}
