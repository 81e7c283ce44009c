/**
 * The records the product works with. Plain data: the store persists them, the domain reasons
 * about them, adapters show them. Ids are UUID strings; times are Date objects in UTC.
 */
import type { AuthMethod, CallRequestSnapshot, CallbackMode } from './call-request.js';
import type { Language } from './language.js';

export type Availability = 'available' | 'away' | 'busy' | 'offline';

/** A weekly opening-hours table: ISO weekday (1 = Monday) -> list of "HH:MM-HH:MM" ranges. */
export type WeeklyHours = Partial<Record<'1' | '2' | '3' | '4' | '5' | '6' | '7', string[]>>;

export interface AgentGroup {
  id: string; // slug, e.g. "billing"
  name: string;
  timeZone: string; // IANA zone the business hours are written in
  businessHours: WeeklyHours;
  /** Callbacks per slot (slotMinutes); null = unlimited. */
  slotCapacity: number | null;
  slotMinutes: number;
  callbackMode: CallbackMode;
}

export interface Agent {
  id: string;
  username: string;
  name: string;
  extension: string; // SIP user part of the desk phone, e.g. "1001"
  groups: string[];
  availability: Availability;
  /** When the agent last became free; "longest idle" routing orders by it. */
  idleSince: Date | null;
  role: 'agent' | 'supervisor' | 'admin';
  createdAt: Date;
}

/** Secrets that never leave the store except to the code that checks them. */
export interface AgentSecrets {
  passwordHash: string;
  /** RFC 2617/7616 HA1 = MD5(username:realm:password), the only SIP credential kept. */
  sipHa1: string;
  sipHa1Sha256: string | null;
  sipRealm: string;
}

export interface Customer {
  id: string;
  name: string;
  phoneE164: string | null;
  timeZone: string;
  externalRef: string | null; // the CRM's id
  createdAt: Date;
}

export interface WebAuthnCredential {
  credentialId: string; // base64url
  publicKey: string; // base64url COSE key
  counter: number;
  transports: string[];
}

export interface PushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface Device {
  id: string;
  customerId: string;
  label: string;
  /** The device key (P-256, JWK, public part only) every enrolled device holds. */
  publicKeyJwk: Record<string, unknown>;
  /** RFC 7638 thumbprint of publicKeyJwk; the token's cnf.jkt. */
  keyThumbprint: string;
  webauthn: WebAuthnCredential | null;
  hasPin: boolean;
  pushSubscription: PushSubscription | null;
  /** SIP contact currently registered by the app (filled by the SIP layer). */
  sipContact: string | null;
  createdAt: Date;
  lastSeenAt: Date | null;
  revokedAt: Date | null;
  /** The language of its app (customer-facing text); null: not known yet, English. */
  language: Language | null;
}

export interface DeviceSecrets {
  pinHash: string | null;
  pinFailedAttempts: number;
  pinLockedUntil: Date | null;
  /** Bumped by every PIN change. */
  pinVersion: number;
}

export interface CallRequest extends CallRequestSnapshot {
  id: string;
  reference: string; // case / incident id shown to both sides
  reason: string;
  customerId: string;
  groupId: string | null;
  /** When the agent first asked; queue order uses it so a callback keeps its place. */
  requestedAt: Date;
  createdBy: string; // agent id or "apikey:<name>"
  version: number;
  updatedAt: Date;
}

/** 'callback_incoming': an agent is calling the customer back now; the app registers to ring. */
export type NotificationKind = 'knock' | 'expired' | 'reminder' | 'callback_prompt' | 'callback_agent' | 'callback_incoming';
/** 'app': the customer's open app, over its live event stream. */
export type ChannelName = 'webpush' | 'sms' | 'app';

export interface NotificationRecord {
  id: string;
  callRequestId: string;
  kind: NotificationKind;
  /** The earlier notification this one replaces on the device. */
  replacesId: string | null;
  channel: ChannelName;
  deviceId: string | null;
  status: 'sent' | 'failed';
  error: string | null;
  createdAt: Date;
}

export interface Challenge {
  id: string;
  deviceId: string;
  callRequestId: string | null;
  purpose: 'accept' | 'enroll_webauthn' | 'change_pin';
  value: string; // base64url random bytes
  /** The device's PIN version when the challenge was issued (set by the store). */
  pinVersion?: number | null;
  expiresAt: Date;
  usedAt: Date | null;
}

export interface IssuedToken {
  jti: string;
  callRequestId: string;
  customerId: string;
  deviceId: string;
  expiresAt: Date;
  consumedAt: Date | null;
  dialogId: string | null;
}

export interface AuthSession {
  id: string; // the session id later legs present
  callRequestId: string;
  customerId: string;
  deviceId: string;
  authMethod: AuthMethod;
  authenticatedAt: Date;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface CallRecord {
  id: string;
  callRequestId: string | null;
  sessionId: string | null;
  customerId: string | null;
  agentId: string | null;
  direction: 'inbound' | 'outbound';
  startedAt: Date;
  answeredAt: Date | null;
  endedAt: Date | null;
  outcome: string | null;
  verification: string | null; // e.g. "token:biometric", "session"
  /** The service process holding the call while it is open (set by the store). */
  owner?: string | null;
  /** FreeSWITCH channel uuids and drachtio-server dialog ids of its legs, while it is open. */
  mediaChannels?: string[];
  sipDialogs?: string[];
  /** drachtio-server transaction ids of INVITEs it sent that may still be ringing (CANCELled by a survivor). */
  sipInvites?: string[];
  /** What a BYE needs for each of its dialogs when drachtio-server has forgotten them (a restart). */
  sipDialogStates?: SipDialogState[];
}

/**
 * One SIP dialog as RFC 3261 §12.2.1.1 builds a request inside it, kept so that a BYE can be
 * written from it after drachtio-server (which holds the dialog) restarted and forgot it.
 * `id` is drachtio-server's dialog id, or for the early dialog of a ring (a phone's 180) the
 * drachtio-server transaction id of the INVITE, as in `CallRecord.sipInvites`; URIs without
 * display names; `routeSet` in the order the request visits it.
 */
export interface SipDialogState {
  id: string;
  callId: string;
  localUri: string;
  localTag: string;
  remoteUri: string;
  remoteTag: string;
  /** The peer's Contact: the BYE's Request-URI. */
  remoteTarget: string;
  routeSet: string[];
}

export type AuditDecision = 'allow' | 'deny' | 'info';

export interface AuditEntry {
  seq: number;
  at: Date;
  actor: string; // "agent:<id>", "device:<id>", "sip", "job:<name>", "system"
  action: string; // e.g. "token.verify", "pin.check", "request.accept"
  subject: string | null; // e.g. "call_request:<id>"
  decision: AuditDecision;
  reason: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  createdAt: Date;
  revokedAt: Date | null;
}

export interface SigningKey {
  kid: string;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: Date;
  retiredAt: Date | null;
}
