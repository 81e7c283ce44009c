/**
 * The registrar (RFC 3261 §10.3): desk phones REGISTER their extension with digest credentials;
 * bindings go to the location service (store.registrations) and the agent's availability follows
 * (first binding -> available, last one gone -> offline).
 *
 * Processing order follows §10.3: authenticate (step 3), authorise the AOR (4), check every
 * Contact and expiry before changing anything (5–7, 423 for too brief an expiry), then apply and
 * answer 200 OK listing all current bindings with their remaining time (8).
 */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { deskPhoneRegistered, deskPhoneUnregistered } from '../flows/desk-phone.js';
import type { FlowDeps } from '../flows/ports.js';
import type { Registration } from '../store/store.js';
import { createAppRegistrar, isAppRegister } from './app-registrar.js';
import type { DeskPhoneAuthenticator } from './desk-phone-auth.js';
import { addrSpec, sendResponse, sourceOf, uriHost, uriUser, type SipRequest, type SipResponse } from './sip-message.js';

/** An RFC 5626 flow: the phone's instance (`+sip.instance`) and its registration's `reg-id`. */
interface Flow {
  instanceId: string;
  regId: number;
}

interface ContactChange {
  uri: string;
  /** Seconds; 0 removes the binding. */
  expires: number;
  flow: Flow | null;
}

type ParsedContacts =
  | { kind: 'query' }
  | { kind: 'wildcard' }
  | { kind: 'list'; contacts: Array<{ uri: string; expires: number | null; flow: Flow | null }> }
  | { kind: 'bad'; why: string };

/** Splits a Contact header value on commas that are outside quotes and angle brackets. */
function splitContacts(value: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') depth++;
    else if (!quoted && ch === '>') depth--;
    if (ch === ',' && !quoted && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/** True when the phone's REGISTER says it does RFC 5626 outbound (`Supported: outbound`, §5.2). */
function asksForOutbound(req: SipRequest): boolean {
  const supported = req.has('Supported') ? req.get('Supported') : req.has('k') ? req.get('k') : '';
  return /(^|,)\s*outbound\s*(,|$)/i.test(supported);
}

/** A contact's flow: both `+sip.instance` and `reg-id` (RFC 5626 §4.1, §4.2), else none. */
function flowOf(params: string): Flow | null {
  const instance = /;\s*\+sip\.instance\s*=\s*"<([^>"]{1,200})>"/i.exec(params);
  const regId = /;\s*reg-id\s*=\s*(\d{1,9})\b/i.exec(params);
  if (!instance || !regId || Number(regId[1]) < 1) return null;
  return { instanceId: instance[1]!, regId: Number(regId[1]) };
}

function parseContacts(req: SipRequest): ParsedContacts {
  if (!req.has('Contact')) return { kind: 'query' };
  const raw = req.get('Contact').trim();
  if (raw === '*') return { kind: 'wildcard' };
  const outbound = asksForOutbound(req);
  const contacts: Array<{ uri: string; expires: number | null; flow: Flow | null }> = [];
  for (const part of splitContacts(raw)) {
    if (part === '*') return { kind: 'bad', why: 'Contact * must be the only contact' };
    const uri = addrSpec(part);
    if (!/^sips?:/i.test(uri)) return { kind: 'bad', why: `unsupported contact ${uri}` };
    // Header parameters follow the closing '>' (or the URI when there are no brackets).
    const afterUri = part.includes('>') ? part.slice(part.indexOf('>') + 1) : '';
    const m = /;\s*expires\s*=\s*(\d+)/i.exec(afterUri);
    contacts.push({ uri, expires: m ? Number(m[1]) : null, flow: outbound ? flowOf(afterUri) : null });
  }
  return { kind: 'list', contacts };
}

/** Over a connection (TCP, TLS) drachtio-server answers the phone's CRLF keep-alives (RFC 5626 §4.4.1). */
function keepsAliveOver(source: string): boolean {
  return /^(tcp|tls)\//i.test(source);
}

function expiresHeader(req: SipRequest): number | null | 'bad' {
  if (!req.has('Expires')) return null;
  const v = req.get('Expires').trim();
  return /^\d+$/.test(v) ? Number(v) : 'bad';
}

function cseqNumber(req: SipRequest): number {
  return Number.parseInt(req.get('CSeq') ?? '0', 10) || 0;
}

function contactList(bindings: Registration[], now: Date): string[] {
  return bindings.map((b) => `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt.getTime() - now.getTime()) / 1000))}`);
}

export interface RegistrarOptions {
  deps: FlowDeps;
  auth: DeskPhoneAuthenticator;
  logger: Logger;
}

export function createRegistrar(opts: RegistrarOptions): (req: SipRequest, res: SipResponse) => Promise<void> {
  const { deps } = opts;
  const cfg: Config['sip']['registrar'] = deps.config.sip.registrar;
  const domain = deps.config.sip.domain.toLowerCase();
  const log = opts.logger.child({ component: 'registrar' });

  /** Phones register to the domain or, commonly on a LAN, to the server's address. */
  const servesHost = (host: string | null) => host !== null && (host === domain || host === 'localhost' || isIP(host.replace(/^\[|\]$/g, '')) !== 0);

  // The customer app registers with a Bearer token instead of digest (app-registrar.ts).
  const registerApp = createAppRegistrar({ deps, logger: opts.logger });

  return async function register(req, res) {
    // §10.3 step 1: only our domain.
    if (!servesHost(uriHost(req.uri))) {
      sendResponse(res, 403, 'Domain Not Served');
      return;
    }
    if (isAppRegister(req)) {
      await registerApp(req, res);
      return;
    }
    const aor = req.has('To') ? addrSpec(req.get('To')) : '';
    const extension = uriUser(aor);
    if (!extension) {
      sendResponse(res, 400, 'Missing Address Of Record');
      return;
    }

    // Steps 3–4: the phone proves it is this extension.
    const agent = await opts.auth.authenticate(req, res, { action: 'register', claimedUser: extension });
    if (!agent) return;

    // Steps 5–7: decide everything before changing anything.
    const now = deps.clock();
    const headerExpires = expiresHeader(req);
    if (headerExpires === 'bad') {
      sendResponse(res, 400, 'Bad Expires Header');
      return;
    }
    const parsed = parseContacts(req);
    if (parsed.kind === 'bad') {
      sendResponse(res, 400, 'Bad Contact');
      log.info({ extension, why: parsed.why }, 'REGISTER refused');
      return;
    }
    const before = await deps.store.registrations.list(extension, now);
    const callId = req.get('Call-ID');
    const cseq = cseqNumber(req);

    let changes: ContactChange[] = [];
    if (parsed.kind === 'wildcard') {
      if (headerExpires !== 0) {
        sendResponse(res, 400, 'Contact * Needs Expires 0');
        return;
      }
    } else if (parsed.kind === 'list') {
      for (const c of parsed.contacts) {
        const asked = c.expires ?? headerExpires ?? cfg.defaultExpires;
        if (asked > 0 && asked < cfg.minExpires) {
          sendResponse(res, 423, 'Interval Too Brief', { 'Min-Expires': String(cfg.minExpires) });
          log.info({ extension, asked, minExpires: cfg.minExpires }, 'REGISTER expiry too brief');
          return;
        }
        changes.push({ uri: c.uri, expires: Math.min(asked, cfg.maxExpires), flow: c.flow });
      }
      // A request that repeats a contact keeps its last mention.
      changes = [...new Map(changes.map((c) => [c.uri, c])).values()];
      // RFC 5626 §6: a binding of the same instance and reg-id under another Contact (the phone
      // restarted or moved) is replaced, not kept beside the new one.
      for (const c of [...changes]) {
        if (!c.flow || c.expires === 0) continue;
        for (const b of before) {
          if (b.contact !== c.uri && b.instanceId === c.flow.instanceId && b.regId === c.flow.regId && !changes.some((x) => x.uri === b.contact)) {
            changes.push({ uri: b.contact, expires: 0, flow: null });
          }
        }
      }
      for (const c of changes) {
        const existing = before.find((b) => b.contact === c.uri);
        if (existing && existing.callId === callId && existing.cseq >= cseq) {
          // An older request of the same phone arrived late: it must not undo a newer one.
          sendResponse(res, 400, 'Out Of Order Request');
          return;
        }
      }
      const added = changes.filter((c) => c.expires > 0 && !before.some((b) => b.contact === c.uri)).length;
      const removed = changes.filter((c) => c.expires === 0 && before.some((b) => b.contact === c.uri)).length;
      if (before.length - removed + added > cfg.maxContactsPerExtension) {
        sendResponse(res, 403, 'Too Many Registered Contacts');
        log.warn({ extension, limit: cfg.maxContactsPerExtension }, 'REGISTER refused: too many contacts for the extension');
        await deps.store.audit.append({
          actor: 'sip',
          action: 'sip.register',
          subject: `agent:${agent.id}`,
          decision: 'deny',
          reason: `more than ${cfg.maxContactsPerExtension} contacts for extension ${extension}`,
          data: { source: sourceOf(req) },
        });
        return;
      }
    }

    // Apply.
    if (parsed.kind === 'wildcard') {
      await deps.store.registrations.removeAll(extension);
    }
    const source = sourceOf(req);
    const userAgent = req.has('User-Agent') ? req.get('User-Agent').slice(0, 200) : null;
    for (const c of changes) {
      if (c.expires === 0) await deps.store.registrations.remove(extension, c.uri);
      else {
        await deps.store.registrations.upsert(
          {
            extension,
            contact: c.uri,
            source,
            callId,
            cseq,
            userAgent,
            expiresAt: new Date(now.getTime() + c.expires * 1000),
            instanceId: c.flow?.instanceId ?? null,
            regId: c.flow?.regId ?? null,
          },
          now,
        );
      }
    }
    const after = await deps.store.registrations.list(extension, now);

    // Step 8: every current binding, with the time it has left.
    const headers: Record<string, string> = { Date: now.toUTCString() };
    if (after.length > 0) headers.Contact = contactList(after, now).join(', ');
    // RFC 5626 §6: the flow is used (requests go back over the connection the REGISTER came
    // on), so say so; the phone then sends CRLF keep-alives, which drachtio-server answers. Not
    // over UDP: its keep-alive is STUN, which drachtio-server does not answer.
    if (changes.some((c) => c.flow && c.expires > 0) && keepsAliveOver(source)) headers.Require = 'outbound';
    sendResponse(res, 200, 'OK', headers);

    if (parsed.kind !== 'query') {
      const what = after.length === 0 ? 'de-registered' : `registered ${after.length} binding(s)`;
      log.info({ extension, agentId: agent.id, source, bindings: after.length, userAgent }, `desk phone ${what}`);
      await deps.store.audit.append({
        actor: 'sip',
        action: 'sip.register',
        subject: `agent:${agent.id}`,
        decision: 'allow',
        reason: `digest verified; ${what}`,
        data: { extension, source, contacts: changes.map((c) => ({ uri: c.uri, expires: c.expires })), wildcard: parsed.kind === 'wildcard' },
      });
    }
    try {
      // Every change goes through the one guarded transition, which reads the bindings itself:
      // a REGISTER racing another phone's, a hang-up or an expiry cannot leave it wrong.
      if (parsed.kind !== 'query') {
        if (after.length > 0) await deskPhoneRegistered(deps, extension);
        else await deskPhoneUnregistered(deps, extension);
      }
    } catch (e) {
      log.error({ extension, err: e instanceof Error ? e.message : String(e) }, 'could not update agent availability after REGISTER');
    }
  };
}
