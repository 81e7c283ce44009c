/**
 * The shape of the configuration. Defaults live in config/default.yaml; environment variables
 * override them (see load-config.ts). Every threshold a deployment may want to change is here,
 * not a constant in code.
 */
import type { CallbackMode, Outcome } from '../domain/call-request.js';
import type { WeeklyHours } from '../domain/model.js';

export interface Config {
  server: {
    host: string;
    port: number;
    /** Base URL customers and agents reach the service at; used in links (SMS, .ics, Call-Info). */
    publicUrl: string;
    /** Number of reverse proxies in front of the service, for client addresses in logs. */
    trustProxy: number;
    /**
     * This instance's name, the same across its restarts: a process that starts under the name of
     * one that died closes the calls it left at once. Empty: the host name.
     */
    instanceName: string;
    /** JSON answers checked against the OpenAPI document: off, log (a mismatch is logged once), fail (tests: 500). */
    responseCheck: 'off' | 'log' | 'fail';
  };
  database: {
    /** postgres://… of a PostgreSQL server; empty = embedded PostgreSQL (PGlite). */
    url: string;
    poolSize: number;
    embedded: { dataDir: string; host: string; port: number };
  };
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    /** auto: readable lines on a terminal, JSON otherwise; or always pretty / json. */
    format: 'auto' | 'pretty' | 'json';
  };
  sip: {
    /** Run the SIP side (drachtio connection, registrar, routing). Off for an HTTP-only instance. */
    enabled: boolean;
    /**
     * With SIP enabled, /readyz answers 503 while drachtio-server is unreachable, so a load
     * balancer stops sending calls' API traffic here; false keeps the instance ready (shown as
     * degraded) for deployments where its HTTP side is what matters.
     */
    requiredForReadiness: boolean;
    /** The SIP domain; also the audience of pre-authentication tokens. */
    domain: string;
    /** The SIP URI the customer app calls with its token. */
    customerCallUri: string;
    /** WebSocket URL of the SIP server for the app. */
    wsUrl: string;
    /** The drachtio-server this application controls (its admin socket). */
    drachtio: { host: string; port: number; secret: string };
    registrar: {
      minExpires: number;
      maxExpires: number;
      defaultExpires: number;
      maxContactsPerExtension: number;
      /**
       * Failed SIP authentications (desk phone digest, app REGISTER) per source address and user
       * per minute; past it that user is refused unchecked from that address (403).
       */
      failedAuthPerMinute: number;
      /** The same per source address, all users together: higher, for offices behind one NAT. */
      failedAuthPerMinutePerAddress: number;
      /** Life of a digest nonce; an older one is answered with a fresh challenge (stale=true). */
      nonceSeconds: number;
      /** Digest algorithms offered (RFC 8760), most preferred first; one challenge each. */
      digestAlgorithms: Array<'SHA-256' | 'MD5'>;
      /** Per extension, instead of digestAlgorithms: e.g. `{ "1001": [SHA-256, MD5] }` for a phone that copes. */
      digestAlgorithmsByExtension: Record<string, Array<'SHA-256' | 'MD5'>>;
    };
    /** Routing file (extensions, groups, feature codes, overflow), relative to the project root. */
    routingFile: string;
    /** How long an agent's desk phone rings before the call goes to the next agent. */
    agentRingSeconds: number;
    /** A dialled callback: how long to wait for the customer's app to register after the push. */
    appRegisterWaitSeconds: number;
    /** A dialled callback: how long the app rings (the customer answers after the biometric/PIN). */
    appRingSeconds: number;
    /**
     * RFC 4028 session timers on customer calls and desk phone calls: the interval this server
     * asks for and answers with, and the smallest it accepts (below it: 422 with Min-SE).
     */
    sessionTimer: { expiresSeconds: number; minSeconds: number };
    /**
     * Desk phones' event subscriptions (message-summary, dialog, presence): the expiry granted
     * (seconds). Below minExpires: 423 with Min-Expires; above maxExpires: cut to it; none asked
     * for: defaultExpires.
     */
    subscriptions: { minExpires: number; maxExpires: number; defaultExpires: number };
  };
  media: {
    /** FreeSWITCH event socket that drachtio-fsmrf drives. */
    freeswitch: { host: string; port: number; secret: string };
    /**
     * Where FreeSWITCH connects back to the application for each media leg (the outbound event
     * socket named in the X-esl-outbound header). Port 0 = any free port; advertisedHost is the
     * address FreeSWITCH can reach the application at, when it differs from host (containers).
     */
    outboundSocket: { host: string; port: number; advertisedHost: string };
    /** What a waiting customer hears (a FreeSWITCH playback target). */
    holdMusic: string;
    /** How long a customer waits in the queue for an agent before the call is ended. */
    queueTimeoutSeconds: number;
    /** Pause before offering a waiting call again when every agent was busy or did not answer. */
    queueRetrySeconds: number;
  };
  requests: {
    answerTimeLimitSeconds: number;
    remindChoicesMinutes: number[];
  };
  tokens: {
    issuer: string;
    /** At most 120 seconds. */
    lifetimeSeconds: number;
    /** Signing keys older than this are replaced by a new one at start-up / housekeeping. */
    keyRotationDays: number;
    /** A retired key is still accepted for verification this long (covers tokens in flight). */
    keyOverlapSeconds: number;
  };
  auth: {
    challengeLifetimeSeconds: number;
    pin: { minLength: number; maxAttempts: number; lockoutMinutes: number };
    agentLoginHours: number;
    enrollmentCodeMinutes: number;
    webauthn: { rpId: string; rpName: string; origins: string[] };
    /** Wrong passwords per agent username per minute before 429 (counted in the database, all instances). */
    loginAttemptsPerMinute: number;
    /** Wrong enrollment codes per source address per hour before 429 (counted in the database). */
    enrollmentAttemptsPerHour: number;
  };
  scheduling: {
    defaultTimeZone: string;
    horizonDays: number;
    callbackMode: CallbackMode;
    businessHours: WeeklyHours;
    slotMinutes: number;
    /** Callbacks per slot per group; 0 = unlimited. */
    slotCapacity: number;
    /** Callbacks only at slot starts (09:00, 09:30 with 30-minute slots); false: any minute in business hours. */
    slotStartsOnly: boolean;
    /** Days closed for every group (public holidays), `YYYY-MM-DD` in each group's zone. */
    closedDates: string[];
    /** Days closed for one group, by group id, on top of closedDates. */
    groupClosedDates: Record<string, string[]>;
    retry: { attempts: number; spacingMinutes: number; retryOn: Outcome[] };
    /** What a callback whose time passed while it could not be placed becomes. */
    missedWindow: 'next_open_slot' | 'ask_customer';
  };
  jobs: {
    /** How often each instance polls for due jobs, on top of LISTEN/NOTIFY wake-ups. */
    processEveryMs: number;
    /** A job locked longer than this by a dead instance is taken over. */
    lockLifetimeMs: number;
    housekeepingCron: string;
    staleSessionHours: number;
  };
  /** Liveness of calls in progress (calls/call-reconciler.ts, flows/call-liveness.ts). */
  calls: {
    /** How often open calls are checked against FreeSWITCH, drachtio-server and the other instances. */
    reconcileSeconds: number;
    /** An instance silent this long is taken as dead: its calls are closed and their legs hung up. */
    instanceDeadSeconds: number;
    /** A busy agent with no open call is freed after this long (a call setup that never finished). */
    busyWithoutCallSeconds: number;
  };
  notify: {
    webpush: {
      publicKey: string;
      privateKey: string;
      subject: string;
      /**
       * Push endpoint origins (scheme://host:port) accepted as they are: plain HTTP, private or
       * loopback addresses. Only for test doubles and private push services; empty in production.
       */
      allowedEndpointOrigins: string[];
    };
    sms: {
      enabled: boolean;
      accountSid: string;
      authToken: string;
      from: string;
      /** Twilio API base; only changed to point at a test double. */
      apiBaseUrl: string;
    };
  };
  metrics: {
    /**
     * host:port of a listener serving only GET /metrics, without a token (loopback by default,
     * for a Prometheus on the same host); empty = no such listener.
     */
    listen: string;
    /** When set, GET /metrics is also served on the API port to `Authorization: Bearer <token>`; empty = it is not. */
    token: string;
  };
  demo: { loadOnFirstStart: boolean };
  /**
   * What customers and agents see the service as: the bank's name (app, console title,
   * notifications, calendar entries), its colours and logo. See branding.ts for the checks.
   */
  branding: {
    name: string;
    /** `#rrggbb`: buttons, links, the app's theme colour; at least 4.5:1 against white (WCAG AA text). */
    primaryColor: string;
    /** `#rrggbb`: pressed and hovered buttons; at least 4.5:1 against white. */
    primaryDarkColor: string;
    /** An https:// (or http:// in development) URL, or an image file (SVG, PNG, JPEG, WebP) relative to the project root; empty: the built-in icon. */
    logo: string;
  };
}
