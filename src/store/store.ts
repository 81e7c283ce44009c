/**
 * The one door to persisted data. Everything the product keeps goes through this interface;
 * `pg-store.ts` implements it on PostgreSQL (a server, or the embedded PGlite one).
 *
 * Methods that decide races (consume a token, claim a challenge, move a call request) are single
 * atomic statements and return null / false when another writer won, never a half-done change.
 */
import type { CallRequestSnapshot, CallRequestState } from '../domain/call-request.js';
import type { Language } from '../domain/language.js';
import type {
  Agent,
  AgentGroup,
  AgentSecrets,
  ApiKey,
  AuditDecision,
  AuditEntry,
  AuthSession,
  Availability,
  CallRecord,
  CallRequest,
  Challenge,
  Customer,
  Device,
  DeviceSecrets,
  IssuedToken,
  NotificationKind,
  NotificationRecord,
  PushSubscription,
  SigningKey,
  SipDialogState,
  WebAuthnCredential,
} from '../domain/model.js';

export type NewAgent = Omit<Agent, 'id' | 'createdAt' | 'idleSince' | 'availability'> & {
  availability?: Availability;
  secrets: AgentSecrets;
};

export interface AgentRepo {
  create(a: NewAgent): Promise<Agent>;
  get(id: string): Promise<Agent | null>;
  getByUsername(username: string): Promise<Agent | null>;
  getByExtension(extension: string): Promise<Agent | null>;
  list(filter?: { groupId?: string }): Promise<Agent[]>;
  secrets(id: string): Promise<AgentSecrets | null>;
  updateSecrets(id: string, secrets: AgentSecrets): Promise<void>;
  /** Sets availability; entering 'available' stamps idleSince = now. */
  setAvailability(id: string, availability: Availability, now: Date): Promise<Agent | null>;
  /**
   * Makes available every busy agent with no open call whose busy was set by one of `deadOwners`,
   * or before `staleBefore` (a reservation for a call that never came); returns their ids.
   */
  freeWithoutCall(deadOwners: string[], staleBefore: Date, now: Date): Promise<string[]>;
  /**
   * Atomically moves an 'available' agent to 'busy'. Returns false when the agent was not
   * available any more (someone else reserved them first).
   */
  reserve(id: string): Promise<boolean>;
  /**
   * Availability follows the extension's live bindings (unexpired, reachable), in one guarded
   * transition under the agent's row lock: none → offline; some → an offline agent becomes
   * available (away and busy stay). Returns the agent when its availability changed.
   */
  followPhones(extension: string, now: Date): Promise<Agent | null>;
  /**
   * A busy agent's call or ringing is over: available, or offline when `requirePhone` and no
   * binding is live (the phone went while they talked). Compare-and-set on busy, under the row
   * lock, so an unregister racing the hang-up cannot leave them available without a phone.
   * Returns the agent when it changed.
   */
  release(id: string, now: Date, requirePhone: boolean): Promise<Agent | null>;
}

export interface GroupRepo {
  upsert(g: AgentGroup): Promise<AgentGroup>;
  get(id: string): Promise<AgentGroup | null>;
  list(): Promise<AgentGroup[]>;
}

export interface CustomerRepo {
  create(c: Omit<Customer, 'id' | 'createdAt'>): Promise<Customer>;
  get(id: string): Promise<Customer | null>;
  /** The customer and their devices that are not revoked (as devices.listForCustomer), in one read. */
  getWithDevices(id: string): Promise<{ customer: Customer; devices: Device[] } | null>;
  /** Name, phone or external reference contains the text (case-insensitive). */
  search(text: string, limit: number): Promise<Customer[]>;
  /** Customers with exactly this E.164 number (several may share a phone), oldest first. */
  getByPhone(phoneE164: string): Promise<Customer[]>;
}

export type NewDevice = Omit<Device, 'id' | 'createdAt' | 'lastSeenAt' | 'revokedAt' | 'hasPin' | 'sipContact' | 'language'> & {
  pinHash: string | null;
  /** SHA-256 (hex) of the device's API credential; the secret itself is never stored. */
  credentialHash: string;
};

export interface DeviceRepo {
  create(d: NewDevice): Promise<Device>;
  get(id: string): Promise<Device | null>;
  getByCredentialHash(hash: string): Promise<Device | null>;
  /**
   * The device behind a credential (revoked ones too) and, in the same read, one call request of
   * its customer: null when no request has that id or it is another customer's.
   */
  getByCredentialHashWithRequest(hash: string, requestId: string): Promise<{ device: Device; request: CallRequest | null } | null>;
  listForCustomer(customerId: string): Promise<Device[]>; // not revoked
  secrets(id: string): Promise<DeviceSecrets | null>;
  /**
   * Sets the PIN only while it is still at `pinVersion` (the one the change was checked against)
   * and moves it to the next version; false when another change came first.
   */
  setPin(id: string, pinHash: string, pinVersion: number): Promise<boolean>;
  setWebAuthn(id: string, cred: WebAuthnCredential | null): Promise<void>;
  updateWebAuthnCounter(id: string, counter: number): Promise<void>;
  setPushSubscription(id: string, sub: PushSubscription | null): Promise<void>;
  /** A contact without expiry or source (provisioned by hand); null clears the binding. */
  setSipContact(id: string, contact: string | null): Promise<void>;
  /** The app's REGISTER binding (RFC 3261 §10): contact, where it came from, until when; null removes it. */
  setSipRegistration(id: string, reg: { contact: string; source: string; expiresAt: Date } | null): Promise<void>;
  /** Devices of the customer (not revoked) with an unexpired SIP binding, newest binding first. */
  sipRegistrations(customerId: string, now: Date): Promise<AppSipBinding[]>;
  /** Clears bindings that have expired; returns how many. */
  purgeExpiredSipRegistrations(now: Date): Promise<number>;
  /** Records a registration token's jti so it can be spent once. */
  recordSipRegistrationToken(t: { jti: string; deviceId: string; expiresAt: Date }): Promise<void>;
  /** Single use: the first REGISTER (by Call-ID) gets 'consumed', every later one 'replayed'. */
  consumeSipRegistrationToken(jti: string, deviceId: string, callId: string, now: Date): Promise<ConsumeResult>;
  /** The language the device's app asked for (Accept-Language of its live stream). */
  setLanguage(id: string, language: Language): Promise<void>;
  /** Stamps `lastSeenAt` with `now`, unless it was stamped less than a minute before. */
  touch(id: string, now: Date): Promise<void>;
  /**
   * Reserves one PIN comparison, atomically, before the PIN is hashed: only while the device is
   * not locked (at `now`) and its failures plus the comparisons in flight stay under maxAttempts.
   * A reservation holds until leaseUntil, so one lost with its process frees its place then.
   * Not reserved: the secrets say why (none: unknown device; no PIN; locked; or every attempt
   * left is being compared right now).
   */
  reservePinCheck(id: string, maxAttempts: number, now: Date, leaseUntil: Date, pinVersion?: number): Promise<PinCheckReservation>;
  /**
   * Ends a reserved comparison. A wrong PIN counts one failure; the one that reaches maxAttempts
   * locks the device until lockUntil and restarts the count; while a lock is active nothing is
   * counted (`wasLocked`). A right PIN clears the count, never a lock. Returns the secrets after.
   */
  finishPinCheck(id: string, right: boolean, maxAttempts: number, lockUntil: Date, now: Date): Promise<DeviceSecrets & { wasLocked: boolean }>;
  /**
   * Revokes the device for good and drops its push subscription and SIP binding. True when this
   * call revoked it, false when it was already revoked or is unknown.
   */
  revoke(id: string, now: Date): Promise<boolean>;
}

export type PinCheckReservation = { reserved: true; pinHash: string } | { reserved: false; secrets: DeviceSecrets | null };

/** A customer device's live SIP binding (the app registered for calls). */
export interface AppSipBinding {
  deviceId: string;
  contact: string;
  /** transport/address:port the REGISTER came from; null for a provisioned contact. */
  source: string | null;
  /** null for a provisioned contact (no expiry). */
  expiresAt: Date | null;
}

export interface EnrollmentCodeRepo {
  create(customerId: string, codeHash: string, expiresAt: Date): Promise<void>;
  /** Marks the code used if it exists, is unused and unexpired; returns its customer. */
  consume(codeHash: string, now: Date): Promise<string | null>;
}

export type NewCallRequest = Omit<CallRequest, 'id' | 'version' | 'updatedAt'> & {
  idempotencyKey: string | null;
  /** What the key was first sent with (caller and request); a reuse with another is refused. */
  idempotencyFingerprint?: string | null;
};

/** A kind of job that belongs to one request (at most one pending per kind). */
export type RequestJobKind = 'request.expire' | 'request.remind' | 'request.lapse' | 'callback.due';

/**
 * What a move implies besides the row and its audit entries, written in the same transaction:
 * the request's jobs (set: one pending job of the kind, due at `at`; drop: none of the kind) and
 * the notifications to send once it has committed (outbox rows; ids chosen by the caller, so it
 * can send them itself right after the commit).
 */
export interface MoveEffects {
  setJobs?: Array<{ name: RequestJobKind; at: Date }>;
  dropJobs?: RequestJobKind[];
  notify?: Array<{ id: string; kind: NotificationKind }>;
}

/** An open request in a state whose job is missing (or due at another time than the request shows). */
export interface JobGap {
  request: CallRequest;
  job: RequestJobKind;
  /** When the job should be due: the request's own time for it. */
  at: Date;
}

/** Which job a state needs, and which of the request's times it is due at. */
export interface JobRule {
  state: CallRequestState;
  job: RequestJobKind;
  dueColumn: 'answer_deadline' | 'snooze_until' | 'scheduled_for' | 'hold_until';
}

export interface OutboxEntry {
  id: string;
  callRequestId: string;
  kind: NotificationKind;
  attempts: number;
}

/** Notifications a committed move owes the customer (see MoveEffects.notify). */
export interface OutboxRepo {
  /** Takes these entries for sending now (only ones nobody has taken yet). */
  claim(ids: string[], now: Date): Promise<OutboxEntry[]>;
  /** Takes entries due by `now` (left behind, or whose claimer gave up), oldest first. */
  claimDue(now: Date, limit: number): Promise<OutboxEntry[]>;
  /** The entry was sent (or can never be): it goes. */
  done(id: string): Promise<void>;
}

export interface CallRequestRepo {
  /**
   * Inserts the request. When a request with the same (createdBy, idempotencyKey) exists, or an
   * open one for the same customer and agent, returns that one with created = false instead
   * (sameKey: it was found by the idempotency key); throws `idempotency_key_reused` when that key
   * was first sent with another fingerprint. With `effects`, the row, its effects and its audit
   * entries are written in one transaction.
   */
  create(
    r: NewCallRequest,
    audit?: (requestId: string) => NewAuditEntry[],
    effects?: (requestId: string) => MoveEffects,
  ): Promise<{ request: CallRequest; created: boolean; sameKey?: boolean }>;
  get(id: string): Promise<CallRequest | null>;
  /**
   * Requests whose call setup never finished: in `state`, unchanged since `before`, and with no
   * open call record (the process setting them up is gone). Oldest first, at most `limit`.
   */
  listStuckInSetup(state: 'agent_dialled' | 'connecting', before: Date, limit: number): Promise<CallRequest[]>;
  /**
   * Compare-and-set: writes the new snapshot only if the stored version is still
   * expectedVersion; returns the updated request, or null when another writer got there first.
   * With `audit`, that entry is appended to the audit chain in the same statement, exactly when
   * the write happened. For create: the entries `audit` returns for the new request's id are
   * appended in their order, only when this call inserted the request.
   */
  update(id: string, expectedVersion: number, next: CallRequestSnapshot, audit?: NewAuditEntry, effects?: MoveEffects): Promise<CallRequest | null>;
  /**
   * Writes `effects` for a request that does not move (a repair), with its audit entry, in one
   * transaction with the row locked; false when the request's version has moved on.
   */
  applyEffects(id: string, expectedVersion: number, effects: MoveEffects, audit: NewAuditEntry): Promise<boolean>;
  /** Open requests whose state needs a job (per `rules`) they do not have; at most `limit`. */
  jobGaps(rules: readonly JobRule[], limit: number): Promise<JobGap[]>;
  /**
   * Call setup in one statement: spends the pre-authentication token for the dialog (as
   * TokenRepo.consume does) and, only if it was spent, makes the compare-and-set update with the
   * audit entries appended in order. `after` is null when the token was not spent (ask
   * TokenRepo.consume why) or the version had moved on (the token is spent all the same).
   */
  updateSpendingToken(
    id: string,
    expectedVersion: number,
    next: CallRequestSnapshot,
    audit: NewAuditEntry[],
    token: { jti: string; dialogId: string; now: Date },
  ): Promise<{ spent: boolean; after: CallRequest | null }>;
  /**
   * An accept in one statement: the compare-and-set update with its audit entry, and, only if it
   * was written, the challenge the device must answer next. Null when the compare-and-set lost
   * (then no challenge exists either).
   */
  updateIssuingChallenge(
    id: string,
    expectedVersion: number,
    next: CallRequestSnapshot,
    audit: NewAuditEntry,
    challenge: Omit<Challenge, 'usedAt'>,
    effects?: MoveEffects,
  ): Promise<CallRequest | null>;
  list(filter: {
    agentId?: string;
    customerId?: string;
    groupId?: string;
    states?: CallRequestState[];
    limit?: number;
    /** 'oldest' (queue order, the default) or 'newest' (a history: the latest asks first). */
    order?: 'oldest' | 'newest';
  }): Promise<CallRequest[]>;
  /** Scheduled callbacks of a group whose time falls in [from, to). */
  countScheduledBetween(groupId: string | null, from: Date, to: Date): Promise<number>;
}

export interface NotificationRepo {
  record(n: Omit<NotificationRecord, 'createdAt'>): Promise<NotificationRecord>;
  listFor(callRequestId: string): Promise<NotificationRecord[]>; // oldest first
}

export interface ChallengeRepo {
  create(c: Omit<Challenge, 'usedAt'>): Promise<Challenge>;
  /** Marks it used if it belongs to deviceId, is unused and unexpired; null otherwise. */
  consume(id: string, deviceId: string, now: Date): Promise<Challenge | null>;
  purgeExpired(now: Date): Promise<number>;
}

export type ConsumeResult = 'consumed' | 'replayed' | 'expired' | 'unknown';

/** What admitting a call needs besides the token itself (TokenRepo.admissionContext). */
export interface AdmissionContext {
  /** The enrolled device the token names; null when there is none. Revoked ones are returned. */
  device: Pick<Device, 'id' | 'customerId' | 'publicKeyJwk' | 'revokedAt'> | null;
  /** The customer the token names, for the agent's display; null when there is none. */
  customer: Pick<Customer, 'id' | 'name' | 'phoneE164'> | null;
  /** The call request the token names; null when there is none. */
  request: CallRequest | null;
}

export interface TokenRepo {
  record(t: Omit<IssuedToken, 'consumedAt' | 'dialogId'>): Promise<void>;
  /** Single use: the first caller gets 'consumed' and binds dialogId; every later one 'replayed'. */
  consume(jti: string, dialogId: string, now: Date): Promise<ConsumeResult>;
  /** The device, customer and call request a verified token names, read together in one statement. */
  admissionContext(deviceId: string, customerId: string, callRequestId: string): Promise<AdmissionContext>;
  get(jti: string): Promise<IssuedToken | null>;
  purgeExpired(now: Date): Promise<number>;
}

export interface SessionRepo {
  create(s: Omit<AuthSession, 'createdAt' | 'revokedAt'>): Promise<AuthSession>;
  get(id: string): Promise<AuthSession | null>;
  /** Returns false when it was already revoked. */
  revoke(id: string, now: Date): Promise<boolean>;
  /** Revokes open sessions created before `before`; returns how many. */
  revokeStale(before: Date, now: Date): Promise<number>;
  /** Revokes open sessions that had calls, none of them open any more; returns their ids. */
  revokeEnded(now: Date): Promise<string[]>;
}

/** The service processes sharing the database, each announcing itself (call-liveness). */
export interface ServiceInstance {
  id: string;
  name: string;
  startedAt: Date;
  heartbeatAt: Date;
  /** The X-esl-outbound address its FreeSWITCH channels carry; null before media connected. */
  mediaAddress: string | null;
}

export interface ServiceInstanceRepo {
  /** Records that process `id` (named `name`) is alive now; returns its row. */
  beat(id: string, name: string, mediaAddress?: string | null): Promise<ServiceInstance>;
  /** Every process that beat within `silentSeconds`. */
  alive(silentSeconds: number): Promise<ServiceInstance[]>;
  /**
   * Other processes that are gone: silent for `silentSeconds`, or of the same name as `self` and
   * silent since `restartedBefore` (the instance restarted as `self`).
   */
  dead(self: { id: string; name: string }, silentSeconds: number, restartedBefore: Date | null): Promise<ServiceInstance[]>;
  /** True when process `id` beat within `silentSeconds`. */
  isAlive(id: string, silentSeconds: number): Promise<boolean>;
  remove(id: string): Promise<void>;
}

export interface CallRecordRepo {
  create(r: Omit<CallRecord, 'id'>): Promise<CallRecord>;
  /** The record as updated; null when there is none (or nothing to change). */
  update(id: string, patch: Partial<Omit<CallRecord, 'id' | 'owner'>>): Promise<CallRecord | null>;
  /** Adds legs to an open record (a ring, a channel): a survivor hangs them up if this process dies. */
  addLegs(id: string, legs: { mediaChannels?: string[]; sipDialogs?: string[]; sipInvites?: string[]; sipDialogStates?: SipDialogState[] }): Promise<void>;
  /** Ends an open record; false when it had already ended. */
  close(id: string, endedAt: Date, outcome: string): Promise<boolean>;
  /** Open records held by these processes, oldest first. */
  listOpen(owners: string[]): Promise<CallRecord[]>;
  /** The open record one of whose legs is this drachtio-server dialog; null when none is. */
  findOpenByDialog(dialogId: string): Promise<CallRecord | null>;
  list(filter: { agentId?: string; customerId?: string; callRequestId?: string; limit?: number }): Promise<CallRecord[]>;
}

export interface NewAuditEntry {
  actor: string;
  action: string;
  subject: string | null;
  decision: AuditDecision;
  reason: string;
  data?: Record<string, unknown>;
}

export interface AuditRepo {
  /** Appends one entry to the hash chain (serialised across writers). */
  append(e: NewAuditEntry): Promise<AuditEntry>;
  list(filter: { subject?: string; afterSeq?: number; limit?: number }): Promise<AuditEntry[]>;
  /** Recomputes the whole chain; reports the first entry that does not match. */
  verify(): Promise<{ ok: boolean; entries: number; firstBadSeq: number | null; problem: string | null }>;
}

export interface ApiKeyRepo {
  create(name: string, scopes: string[], keyHash: string): Promise<ApiKey>;
  getByHash(keyHash: string): Promise<ApiKey | null>; // not revoked
  list(): Promise<ApiKey[]>;
  /** True when this call revoked the key, false when it was already revoked or is unknown. */
  revoke(id: string, now: Date): Promise<boolean>;
}

/** The answer to one attempt against a limit. */
export type AttemptReservation =
  | { allowed: true; remaining: number }
  /** firstRefusal: the first attempt refused in this window (audit that one, not every one). */
  | { allowed: false; retryAfterSeconds: number; firstRefusal: boolean };

/** At most `attempts` per key (a username, a source address) in a window, counted in the database. */
export interface AttemptLimit {
  /** Counts one attempt atomically; call it before the check it guards. */
  reserve(key: string): Promise<AttemptReservation>;
  /** The attempt succeeded and does not count. */
  giveBack(key: string): Promise<void>;
  /** Forgets the key's attempts. */
  reset(key: string): Promise<void>;
  /**
   * Holds a place for one check, atomically, while the failures plus the checks in flight stay
   * under the limit. A refusal takes no place and says what fills the limit: counted failures,
   * or checks still in flight (those give their place back soon).
   */
  beginCheck(key: string): Promise<CheckReservation>;
  /** The check is over: a failure keeps its place and counts; a pass gives it back ('clear' also forgets the failures). */
  endCheck(key: string, outcome: 'failed' | 'passed' | 'clear'): Promise<void>;
}

export type CheckReservation =
  | { allowed: true }
  /** firstRefusal: the first refusal for failures in this window (audit that one, not every one). */
  | { allowed: false; full: 'failures'; retryAfterSeconds: number; firstRefusal: boolean }
  /** lastBegun: when the latest check in flight took its place (ms), to see places turn over. */
  | { allowed: false; full: 'checks'; failures: number; inFlight: number; lastBegun: number };

export interface AttemptLimitRepo {
  /** The limit named `name` (a key prefix shared by every instance). */
  limit(name: string, attempts: number, windowSeconds: number): AttemptLimit;
  /** Drops counts whose window has ended. */
  purgeExpired(): Promise<number>;
}

export interface AgentLoginRepo {
  create(tokenHash: string, agentId: string, expiresAt: Date): Promise<void>;
  getAgentId(tokenHash: string, now: Date): Promise<string | null>;
  /** The agent of an unexpired sign-in, read in the same statement as the sign-in itself. */
  getAgent(tokenHash: string, now: Date): Promise<Agent | null>;
  remove(tokenHash: string): Promise<void>;
  purgeExpired(now: Date): Promise<number>;
}

export interface SigningKeyRepo {
  list(): Promise<SigningKey[]>; // newest first
  insert(k: Omit<SigningKey, 'retiredAt'>): Promise<void>;
  retire(kid: string, now: Date): Promise<void>;
}

/** One desk phone binding of an extension (RFC 3261 §10 location service). */
export interface Registration {
  extension: string;
  /** The Contact URI the phone registered, where calls for the extension are sent. */
  contact: string;
  /** Where the REGISTER came from (transport/address:port), for phones behind NAT. */
  source: string;
  callId: string;
  cseq: number;
  userAgent: string | null;
  expiresAt: Date;
  updatedAt: Date;
  /** Set when a request to it failed before the phone could answer; cleared by its next REGISTER. */
  unreachableSince?: Date | null;
  /** RFC 5626 flow: the phone's `+sip.instance` and `reg-id`, when it asked for outbound. */
  instanceId?: string | null;
  regId?: number | null;
}

export interface RegistrationRepo {
  /** Adds or refreshes the binding for (extension, contact). */
  upsert(r: Omit<Registration, 'updatedAt'>, now: Date): Promise<void>;
  remove(extension: string, contact: string): Promise<boolean>;
  removeAll(extension: string): Promise<number>;
  /** Unexpired bindings of an extension, newest first. */
  list(extension: string, now: Date): Promise<Registration[]>;
  /** Extensions that have at least one unexpired binding. */
  registeredExtensions(now: Date): Promise<string[]>;
  /** Marks an unexpired binding unreachable; false when it was already marked (or is gone). */
  markUnreachable(extension: string, contact: string, now: Date): Promise<boolean>;
  /** Per extension with unexpired bindings: 'registered' (one is live) or 'unreachable' (none is). */
  phoneStates(now: Date): Promise<Map<string, 'registered' | 'unreachable'>>;
  purgeExpired(now: Date): Promise<number>;
}

/** A desk phone's event subscription (RFC 6665), one per subscription dialog. */
export interface SipSubscription {
  /** drachtio-server's id of the subscription dialog (in-dialog requests and NOTIFYs use it). */
  dialogId: string;
  event: 'message-summary' | 'dialog' | 'presence';
  /** The subscribing phone's extension (authenticated). */
  subscriber: string;
  /** The watched extension. */
  target: string;
  /** The watched resource's URI, as the NOTIFY bodies name it. */
  entity: string;
  /** NOTIFYs sent in it so far (the last document's version). */
  version: number;
  /** The state the last NOTIFY reported; null before the first. */
  reported: string | null;
  expiresAt: Date;
}

export interface SipSubscriptionRepo {
  /** Adds a subscription, or replaces the one of the same dialog. */
  create(s: Omit<SipSubscription, 'version' | 'reported'>, now: Date): Promise<void>;
  /** The unexpired subscription of a dialog. */
  get(dialogId: string, now: Date): Promise<SipSubscription | null>;
  /** Unexpired subscriptions of a subscribing or a watched extension, oldest first. */
  list(filter: { subscriber?: string; target?: string }, now: Date): Promise<SipSubscription[]>;
  /** A refresh: the new expiry of an unexpired subscription; null when there is none. */
  refresh(dialogId: string, expiresAt: Date, now: Date): Promise<SipSubscription | null>;
  /** Ends a subscription; the row it had, or null. */
  remove(dialogId: string): Promise<SipSubscription | null>;
  /** The next NOTIFY of one subscription, whatever it reported before: its version and state. */
  nextNotify(dialogId: string, reported: string, now: Date): Promise<SipSubscription | null>;
  /**
   * The unexpired subscriptions of `target` to the packages in `states` that have not yet
   * reported their package's state, each moved to it with its next version (one atomic statement
   * for all packages: a change seen by two instances is sent once).
   */
  report(target: string, states: Partial<Record<'dialog' | 'presence', string>>, now: Date): Promise<SipSubscription[]>;
  /**
   * What each unexpired busy-lamp subscription (dialog, presence) last reported, with the watched
   * agent's availability now (null when no agent has the extension): one read, so a sweep finds
   * the lamps a missed event left wrong.
   */
  watchedLines(now: Date): Promise<Array<{ target: string; event: 'dialog' | 'presence'; reported: string | null; availability: Availability | null }>>;
  /** Removes and returns subscriptions that expired (at most `limit`): each gets its final NOTIFY. */
  takeExpired(now: Date, limit: number): Promise<SipSubscription[]>;
}

/** Small named values the service keeps for itself (VAPID keys, "demo data loaded", …). */
export interface SettingRepo {
  get(key: string): Promise<string | null>;
  /** Stores value unless the key exists; returns whichever value is stored afterwards. */
  setIfAbsent(key: string, value: string): Promise<string>;
}

/** A customer app's open live event stream, held by one service process (`owner`). */
export interface AppStreamRepo {
  open(stream: { id: string; deviceId: string; customerId: string; owner: string }): Promise<void>;
  close(id: string): Promise<void>;
  /** Refreshes every stream `owner` holds, and its devices' last_seen_at (at most once a minute each); forgets rows of any process silent that long. Returns how many it refreshed. */
  touch(owner: string, forgetAfterSeconds: number): Promise<number>;
  /** The customer's streams refreshed within `freshSeconds`, on any process. */
  live(customerId: string, freshSeconds: number): Promise<Array<{ deviceId: string; owner: string; seenAt: Date }>>;
}

/** One entry of the cluster's live event log (migration 016). `event` is the JSON the instance published. */
export interface LoggedLiveEvent {
  id: number;
  at: Date;
  /** The instance that published it. */
  origin: string;
  requestId: string | null;
  requestVersion: number | null;
  event: unknown;
}

/** The live events every instance's streams show, in one log with monotonic ids. */
export interface LiveEventRepo {
  /** Appends the event and wakes every listening instance (NOTIFY on commit); returns its id. */
  append(e: { origin: string; requestId?: string | null; requestVersion?: number | null; event: unknown }): Promise<number>;
  /** Events with an id above `id`, oldest first. */
  after(id: number, limit: number): Promise<LoggedLiveEvent[]>;
  /** The highest id written so far (0 when none). */
  lastId(): Promise<number>;
  /** Deletes events older than `at`; returns how many. */
  purgeBefore(at: Date): Promise<number>;
}

export interface Store {
  agents: AgentRepo;
  groups: GroupRepo;
  customers: CustomerRepo;
  devices: DeviceRepo;
  enrollmentCodes: EnrollmentCodeRepo;
  callRequests: CallRequestRepo;
  notifications: NotificationRepo;
  challenges: ChallengeRepo;
  tokens: TokenRepo;
  sessions: SessionRepo;
  callRecords: CallRecordRepo;
  instances: ServiceInstanceRepo;
  audit: AuditRepo;
  apiKeys: ApiKeyRepo;
  agentLogins: AgentLoginRepo;
  signingKeys: SigningKeyRepo;
  settings: SettingRepo;
  registrations: RegistrationRepo;
  outbox: OutboxRepo;
  attemptLimits: AttemptLimitRepo;
  sipSubscriptions: SipSubscriptionRepo;
  appStreams: AppStreamRepo;
  liveEvents: LiveEventRepo;
  /** postgres:// URL of the database, for components that open their own connections (Agenda). */
  readonly url: string;
  /** True when the database answers; used by the readiness endpoint. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
