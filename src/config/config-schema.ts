/** JSON Schema of the configuration (mirrors config.ts); unknown keys are errors, not ignored. */
import { SLOT_MINUTES } from '../domain/callback-schedule.js';
const str = { type: 'string' } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
const bool = { type: 'boolean' } as const;
const pos = { type: 'integer', minimum: 1 } as const;
const nonNeg = { type: 'integer', minimum: 0 } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;

function obj(properties: Record<string, unknown>) {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false } as const;
}

const hhmm = { type: 'array', items: { type: 'string' } } as const;

export const configSchema = obj({
  server: obj({ host: nonEmpty, port, publicUrl: { type: 'string', pattern: '^https?://' }, trustProxy: nonNeg, instanceName: { type: 'string', maxLength: 200 }, responseCheck: { enum: ['off', 'log', 'fail'] } }),
  database: obj({
    url: str,
    poolSize: pos,
    embedded: obj({ dataDir: nonEmpty, host: nonEmpty, port }),
  }),
  log: obj({ level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, format: { enum: ['auto', 'pretty', 'json'] } }),
  sip: obj({
    enabled: bool,
    requiredForReadiness: bool,
    domain: nonEmpty,
    customerCallUri: { type: 'string', pattern: '^sips?:' },
    wsUrl: { type: 'string', pattern: '^wss?://' },
    drachtio: obj({ host: nonEmpty, port, secret: nonEmpty }),
    registrar: obj({
      minExpires: pos,
      maxExpires: pos,
      defaultExpires: pos,
      maxContactsPerExtension: pos,
      failedAuthPerMinute: pos,
      failedAuthPerMinutePerAddress: pos,
      nonceSeconds: { type: 'integer', minimum: 10, maximum: 3600 },
      digestAlgorithms: { type: 'array', items: { enum: ['SHA-256', 'MD5'] }, minItems: 1, uniqueItems: true },
      digestAlgorithmsByExtension: {
        type: 'object',
        propertyNames: { pattern: '^[0-9]{2,10}$' },
        additionalProperties: { type: 'array', items: { enum: ['SHA-256', 'MD5'] }, minItems: 1, uniqueItems: true },
      },
    }),
    routingFile: nonEmpty,
    agentRingSeconds: { type: 'integer', minimum: 3, maximum: 300 },
    appRegisterWaitSeconds: { type: 'integer', minimum: 1, maximum: 300 },
    appRingSeconds: { type: 'integer', minimum: 5, maximum: 300 },
    // RFC 4028 §4: Min-SE is never below 90 seconds.
    sessionTimer: obj({ expiresSeconds: { type: 'integer', minimum: 90, maximum: 86400 }, minSeconds: { type: 'integer', minimum: 90, maximum: 86400 } }),
    subscriptions: obj({ minExpires: pos, maxExpires: { type: 'integer', minimum: 1, maximum: 86400 }, defaultExpires: pos }),
  }),
  media: obj({
    freeswitch: obj({ host: nonEmpty, port, secret: nonEmpty }),
    outboundSocket: obj({ host: nonEmpty, port, advertisedHost: str }),
    holdMusic: nonEmpty,
    queueTimeoutSeconds: { type: 'integer', minimum: 10, maximum: 7200 },
    queueRetrySeconds: { type: 'integer', minimum: 1, maximum: 300 },
  }),
  requests: obj({
    answerTimeLimitSeconds: { type: 'integer', minimum: 1, maximum: 86400 },
    remindChoicesMinutes: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 1 },
  }),
  tokens: obj({
    issuer: nonEmpty,
    lifetimeSeconds: { type: 'integer', minimum: 5, maximum: 120 },
    keyRotationDays: pos,
    keyOverlapSeconds: nonNeg,
  }),
  auth: obj({
    challengeLifetimeSeconds: { type: 'integer', minimum: 10, maximum: 600 },
    pin: obj({ minLength: { type: 'integer', minimum: 4, maximum: 12 }, maxAttempts: pos, lockoutMinutes: pos }),
    agentLoginHours: pos,
    enrollmentCodeMinutes: pos,
    webauthn: obj({ rpId: nonEmpty, rpName: nonEmpty, origins: { type: 'array', items: nonEmpty, minItems: 1 } }),
    loginAttemptsPerMinute: pos,
    enrollmentAttemptsPerHour: pos,
  }),
  scheduling: obj({
    defaultTimeZone: nonEmpty,
    horizonDays: { type: 'integer', minimum: 1, maximum: 365 },
    callbackMode: { enum: ['customer_calls', 'agent_calls'] },
    businessHours: {
      type: 'object',
      propertyNames: { pattern: '^[1-7]$' },
      additionalProperties: hhmm,
    },
    slotMinutes: { enum: [...SLOT_MINUTES] },
    slotCapacity: nonNeg,
    slotStartsOnly: bool,
    closedDates: { type: 'array', items: { type: 'string' } },
    groupClosedDates: { type: 'object', propertyNames: { pattern: '^[A-Za-z0-9_-]{1,40}$' }, additionalProperties: { type: 'array', items: { type: 'string' } } },
    retry: obj({
      attempts: nonNeg,
      spacingMinutes: pos,
      retryOn: { type: 'array', items: { enum: ['no_answer', 'busy', 'failed'] } },
    }),
    missedWindow: { enum: ['next_open_slot', 'ask_customer'] },
  }),
  jobs: obj({
    processEveryMs: { type: 'integer', minimum: 50 },
    lockLifetimeMs: { type: 'integer', minimum: 1000 },
    housekeepingCron: nonEmpty,
    staleSessionHours: pos,
  }),
  calls: obj({
    reconcileSeconds: { type: 'integer', minimum: 1, maximum: 300 },
    instanceDeadSeconds: { type: 'integer', minimum: 3, maximum: 3600 },
    busyWithoutCallSeconds: { type: 'integer', minimum: 30 },
  }),
  notify: obj({
    webpush: obj({
      publicKey: str,
      privateKey: str,
      subject: { type: 'string', pattern: '^(mailto:|https:)' },
      allowedEndpointOrigins: { type: 'array', items: { type: 'string', pattern: '^https?://[^/?#\\s]+$' } },
    }),
    sms: obj({ enabled: bool, accountSid: str, authToken: str, from: str, apiBaseUrl: { type: 'string', pattern: '^https?://' } }),
  }),
  metrics: obj({
    listen: { type: 'string', pattern: '^$|^(\\[[0-9a-fA-F:.]+\\]|[^:\\s\\[\\]]+):\\d{1,5}$' },
    token: { type: 'string', pattern: '^$|^[\\x21-\\x7e]{16,}$' },
  }),
  demo: obj({ loadOnFirstStart: bool }),
  branding: obj({
    name: { type: 'string', minLength: 1, maxLength: 60 },
    primaryColor: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' },
    primaryDarkColor: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' },
    logo: str,
  }),
});
