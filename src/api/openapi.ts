/**
 * The OpenAPI 3.1 description of the HTTP API. It is served at /api/openapi.json and is also what
 * request bodies and query strings are validated against (validate.ts), so the document cannot
 * drift from what the server accepts.
 */
import { OUTCOMES } from '../domain/call-request.js';
import { SLOT_MINUTES } from '../domain/callback-schedule.js';

const uuid = { type: 'string', format: 'uuid' } as const;
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
/** A name that ends up in SIP headers (display names): no control characters, CR/LF above all. */
const displayName = (max: number) => ({ ...text(max), pattern: '^[^\\x00-\\x1f\\x7f]*$' }) as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const problem = { $ref: '#/components/schemas/Problem' } as const;

function body(schema: Record<string, unknown>) {
  return { required: true, content: { 'application/json': { schema } } };
}
function closed(properties: Record<string, unknown>, required: string[]) {
  return { type: 'object', properties, required, additionalProperties: false };
}
/** A JSON answer with its schema (most name a component below). */
function ok(description: string, schema: Record<string, unknown>) {
  return { description, content: { 'application/json': { schema } } };
}
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` }) as const;
const nullable = (schema: Record<string, unknown>) => ({ oneOf: [schema, { type: 'null' }] });
const nullableDate = { type: ['string', 'null'], format: 'date-time' } as const;
const nullableText = { type: ['string', 'null'] } as const;
const itemsOf = (schema: Record<string, unknown>) => closed({ items: { type: 'array', items: schema } }, ['items']);
/** WebAuthn options as @simplewebauthn builds them (W3C WebAuthn Level 3 JSON forms). */
const webauthnOptions = { type: 'object', required: ['challenge'], properties: { challenge: { type: 'string' } } } as const;
const errors = {
  '400': {
    description: 'Invalid input: validation_failed (every problem listed), or invalid_text (a NUL character or invalid UTF-8; `field` names where)',
    content: { 'application/problem+json': { schema: problem } },
  },
  '401': { description: 'Not authenticated', content: { 'application/problem+json': { schema: problem } } },
};
/** A problem+json answer of one status; `description` names the codes it carries. */
const refused = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
/**
 * Every operation also answers these, as problem+json (added to each operation below the
 * document): any other refusal (403 forbidden, 404 not_found, 429 rate_limited…) and a failure.
 */
const anyProblem = {
  '4XX': refused('Refused: a problem document; `code` says why (the status table is in the README)'),
  '5XX': refused('Failed or unavailable: a problem document (internal, unavailable, no_agent_available)'),
};

/** A stream's resume point: the `id:` of the last event received (SSE). */
const lastEventIdHeader = {
  name: 'Last-Event-ID',
  in: 'header',
  required: false,
  description: 'The id of the last event received; the stream starts with the events after it.',
  schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
};

const agentProps = {
  id: uuid,
  username: { type: 'string' },
  name: { type: 'string' },
  extension: { type: 'string' },
  groups: { type: 'array', items: { type: 'string' } },
  availability: { enum: ['available', 'away', 'busy', 'offline'] },
  idleSince: nullableDate,
  role: { enum: ['agent', 'supervisor', 'admin'] },
  phone: {
    enum: ['registered', 'unreachable', 'none'],
    description: 'The desk phone as the registrar sees it (in GET /me and GET /agents): a live binding, only bindings a call could not reach (the agent is offline until the phone registers again), or none.',
  },
};
const agentRequired = ['id', 'username', 'name', 'extension', 'groups', 'availability', 'idleSince', 'role'];
const callRequestProps = {
  id: uuid,
  state: ref('RequestState'),
  reference: { type: 'string' },
  reason: { type: 'string' },
  customerId: uuid,
  agentId: uuid,
  groupId: nullableText,
  requestedAt: dateTime,
  answerDeadline: dateTime,
  scheduledFor: nullableDate,
  scheduleNote: nullableText,
  snoozeUntil: nullableDate,
  verification: nullable(closed({ method: { enum: ['biometric', 'pin'] }, at: nullableDate }, ['method', 'at'])),
  attempts: { type: 'integer', minimum: 0 },
  outcome: ref('Outcome'),
  allowedAnswers: ref('AllowedAnswers'),
  updatedAt: dateTime,
};
const callRequestRequired = ['id', 'state', 'reference', 'reason', 'customerId', 'agentId', 'groupId', 'requestedAt', 'answerDeadline', 'scheduledFor', 'scheduleNote', 'snoozeUntil', 'verification', 'attempts', 'outcome', 'allowedAnswers', 'updatedAt'];
const appRequestProps = {
  id: uuid,
  state: ref('RequestState'),
  agentName: { type: 'string' },
  reference: { type: 'string' },
  reason: { type: 'string' },
  answerDeadline: dateTime,
  scheduledFor: nullableDate,
  scheduleNote: nullableText,
  snoozeUntil: nullableDate,
  actions: ref('AllowedAnswers'),
  remindChoicesMinutes: { type: 'array', items: { type: 'number' } },
};
const appRequestRequired = ['id', 'state', 'agentName', 'reference', 'reason', 'answerDeadline', 'scheduledFor', 'scheduleNote', 'snoozeUntil', 'actions', 'remindChoicesMinutes'];

const agentAuth = [{ agentBearer: [] }, { apiKey: [] }];
const deviceAuth = [{ deviceCredential: [] }];

const document = {
  openapi: '3.1.0',
  info: {
    title: 'Knock API',
    version: '1.0.0',
    description:
      'Knock before calling: agents request calls, customers answer in the app (accept with biometric or PIN, schedule, remind me later), and accepted calls carry a pre-authentication token to the SIP server.',
  },
  servers: [{ url: '/' }],
  components: {
    securitySchemes: {
      agentBearer: { type: 'http', scheme: 'bearer', description: 'Agent sign-in token from POST /api/v1/auth/login.' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key', description: 'Integration key with scopes.' },
      deviceCredential: { type: 'http', scheme: 'bearer', description: 'Device credential from POST /api/v1/devices.' },
      metricsBearer: { type: 'http', scheme: 'bearer', description: 'metrics.token from the configuration.' },
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'code', 'detail'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          code: { type: 'string' },
          detail: { type: 'string' },
          instance: { type: 'string' },
          field: { type: 'string', description: 'invalid_text: the field, query parameter or "path" with the bad text' },
        },
      },
      RoutingVersion: {
        type: 'object',
        description: 'The routing file in force on one instance.',
        required: ['version', 'loadedAt', 'file', 'extensions', 'groups', 'featureCodes'],
        properties: {
          version: { type: 'string', pattern: '^[0-9a-f]{16}$', description: "The first 16 hex digits of the SHA-256 of the file's bytes (as `npm run admin -- check-routing` prints it)" },
          loadedAt: dateTime,
          file: { type: 'string', description: 'The file as configured (sip.routingFile)' },
          extensions: { type: 'integer', description: 'Numbers under extensions' },
          groups: { type: 'integer' },
          featureCodes: { type: 'array', items: { type: 'string' } },
        },
      },
      RoutingChanges: {
        type: 'object',
        description: 'Keys added, removed and changed: numbers (extensions), group ids, feature codes.',
        properties: Object.fromEntries(
          ['extensions', 'groups', 'featureCodes'].map((k) => [
            k,
            { type: 'object', properties: { added: { type: 'array', items: { type: 'string' } }, removed: { type: 'array', items: { type: 'string' } }, changed: { type: 'array', items: { type: 'string' } } } },
          ]),
        ),
      },
      WeeklyHours: {
        type: 'object',
        propertyNames: { pattern: '^[1-7]$' },
        additionalProperties: { type: 'array', items: { type: 'string', pattern: '^\\d\\d:\\d\\d-\\d\\d:\\d\\d$' } },
      },
      Agent: closed(agentProps, agentRequired),
      Me: {
        description: 'The signed-in agent, whether their desk phone is registered now, and a warning when they are available without one (customer calls would reach nobody).',
        ...closed(
          {
            ...agentProps,
            deskPhoneRegistered: { type: 'boolean' },
            warning: nullableText,
          },
          [...agentRequired, 'deskPhoneRegistered', 'warning'],
        ),
      },
      Customer: closed(
        { id: uuid, name: { type: 'string' }, phone: nullableText, timeZone: nullableText, externalRef: nullableText },
        ['id', 'name', 'phone', 'timeZone', 'externalRef'],
      ),
      AllowedAnswers: closed({ accept: { type: 'boolean' }, schedule: { type: 'boolean' }, snooze: { type: 'boolean' } }, ['accept', 'schedule', 'snooze']),
      RequestState: {
        enum: ['requested', 'notified', 'snoozed', 'accepted', 'authenticated', 'connecting', 'connected', 'ended', 'expired', 'scheduled', 'due', 'prompted', 'agent_dialled', 'cancelled'],
      },
      Outcome: {
        type: ['string', 'null'],
        enum: [...OUTCOMES, null],
        description:
          'How the request ended (or why its last callback attempt failed): completed, cancelled (by the agent), cancelled_by_customer, unreachable, superseded, abandoned, no_answer, busy, failed, gave_up, no_call (verified, but no call before the answer window closed), not_verified (accepted, but not verified before the answer window closed), media_lost, signalling_lost, service_restarted, instance_lost.',
      },
      CallOutcome: {
        type: ['string', 'null'],
        // A call's record also ends when a transfer hands the customer to the next agent.
        enum: [...OUTCOMES, 'transferred', null],
        description: "How this call leg ended: a request's outcome (see Outcome), or transferred (the customer went on to another agent, whose call has a record of its own).",
      },
      CallRequest: { description: 'A call request as agents see it.', ...closed(callRequestProps, callRequestRequired) },
      Notification: closed(
        {
          id: uuid,
          kind: { type: 'string' },
          replaces: { type: ['string', 'null'] },
          channel: { type: 'string' },
          status: { type: 'string' },
          error: nullableText,
          at: dateTime,
        },
        ['id', 'kind', 'replaces', 'channel', 'status', 'error', 'at'],
      ),
      AppRequest: { description: "A call request as the customer's app sees it: the agent's name, not their id.", ...closed(appRequestProps, appRequestRequired) },
      Device: {
        type: 'object',
        properties: {
          id: uuid,
          customerId: uuid,
          label: { type: 'string' },
          keyThumbprint: { type: 'string' },
          passkey: { type: 'boolean' },
          pin: { type: 'boolean' },
          push: { type: 'boolean' },
          createdAt: dateTime,
          lastSeenAt: { ...nullableDate, description: 'When the customer last used the device: it opened its live event stream (and while the stream stays open), or verified a request; at most one stamp a minute. Null: not seen since enrolment.' },
          current: { type: 'boolean', description: 'GET /api/v1/devices only: this is the calling device' },
        },
        required: ['id', 'customerId', 'label', 'keyThumbprint', 'passkey', 'pin', 'push', 'createdAt', 'lastSeenAt'],
        additionalProperties: false,
      },
      Group: closed(
        {
          id: { type: 'string' },
          name: { type: 'string' },
          timeZone: { type: 'string' },
          businessHours: ref('WeeklyHours'),
          slotCapacity: { type: ['integer', 'null'] },
          slotMinutes: { type: 'integer' },
          callbackMode: { enum: ['customer_calls', 'agent_calls'] },
        },
        ['id', 'name', 'timeZone', 'businessHours', 'slotCapacity', 'slotMinutes', 'callbackMode'],
      ),
      Challenge: closed(
        {
          challengeId: uuid,
          challenge: { type: 'string', description: 'Sign its UTF-8 bytes with the device key (ES256, IEEE P1363 r‖s, base64url) for the PIN method' },
          expiresAt: dateTime,
          methods: { type: 'array', items: { enum: ['biometric', 'pin'] } },
          webauthn: nullable(webauthnOptions),
        },
        ['challengeId', 'challenge', 'expiresAt', 'methods', 'webauthn'],
      ),
      CallCredential: closed(
        {
          token: { type: 'string', description: 'Pre-authentication token (ES256 JWT), single use' },
          expiresAt: dateTime,
          authMethod: { enum: ['biometric', 'pin'] },
          sipUri: { type: 'string' },
          wsUrl: { type: 'string' },
          reference: { type: 'string' },
        },
        ['token', 'expiresAt', 'authMethod', 'sipUri', 'wsUrl', 'reference'],
      ),
      CallOnScreen: closed(
        {
          requestId: uuid,
          agentId: uuid,
          customerId: uuid,
          customerName: { type: 'string' },
          reference: { type: 'string' },
          reason: { type: 'string' },
          verification: nullable(closed({ method: { type: 'string' }, at: { type: 'string' }, via: { enum: ['token', 'session'] } }, ['method', 'at', 'via'])),
          at: { type: 'string' },
        },
        ['requestId', 'agentId', 'customerId', 'customerName', 'reference', 'reason', 'verification', 'at'],
      ),
      CallRecord: closed(
        {
          id: uuid,
          direction: { enum: ['inbound', 'outbound'] },
          callRequestId: { type: ['string', 'null'] },
          reference: nullableText,
          customerId: { type: ['string', 'null'] },
          customerName: nullableText,
          agentId: { type: ['string', 'null'] },
          startedAt: dateTime,
          answeredAt: nullableDate,
          endedAt: nullableDate,
          outcome: ref('CallOutcome'),
          verification: { type: ['string', 'null'], description: 'e.g. token:biometric, session' },
        },
        ['id', 'direction', 'callRequestId', 'reference', 'customerId', 'customerName', 'agentId', 'startedAt', 'answeredAt', 'endedAt', 'outcome', 'verification'],
      ),
      Slots: closed(
        {
          timeZone: { type: 'string', description: "The customer's zone (the app shows times in it)" },
          businessTimeZone: { type: 'string', description: 'The zone the business hours are written in' },
          slotMinutes: { type: 'integer' },
          horizon: dateTime,
          slots: { type: 'array', items: closed({ start: dateTime, end: dateTime }, ['start', 'end']) },
          next: { type: ['string', 'null'], format: 'date-time', description: 'Pass as `after` for the next page; null once the horizon is reached' },
        },
        ['timeZone', 'businessTimeZone', 'slotMinutes', 'horizon', 'slots', 'next'],
      ),
      Transfer: closed(
        { transferId: uuid, requestId: uuid, fromAgentId: uuid, toAgentId: { type: ['string', 'null'] }, toGroup: nullableText, state: { const: 'requested' } },
        ['transferId', 'requestId', 'fromAgentId', 'toAgentId', 'toGroup', 'state'],
      ),
      ApiKey: closed(
        { id: uuid, name: { type: 'string' }, scopes: { type: 'array', items: { type: 'string' } }, createdAt: dateTime, revokedAt: nullableDate },
        ['id', 'name', 'scopes', 'createdAt', 'revokedAt'],
      ),
      Readiness: closed(
        {
          status: { enum: ['ready', 'degraded', 'unready'] },
          components: { type: 'object', additionalProperties: { enum: ['up', 'down'] } },
          routing: closed({ version: { type: 'string' }, loadedAt: dateTime }, ['version', 'loadedAt']),
        },
        ['status', 'components'],
      ),
      Jwk: {
        type: 'object',
        required: ['kty', 'crv', 'x', 'y'],
        properties: { kty: { const: 'EC' }, crv: { const: 'P-256' }, x: { type: 'string', maxLength: 100 }, y: { type: 'string', maxLength: 100 } },
      },
    },
  },
  paths: {
    '/api/v1/auth/login': {
      post: {
        operationId: 'login',
        summary: 'Agent sign-in',
        requestBody: body(closed({ username: text(64), password: text(200) }, ['username', 'password'])),
        responses: { '200': ok('Token and agent', closed({ token: { type: 'string' }, expiresAt: dateTime, agent: ref('Agent') }, ['token', 'expiresAt', 'agent'])), ...errors },
      },
    },
    '/api/v1/auth/logout': {
      post: { operationId: 'logout', security: agentAuth, responses: { '204': { description: 'Signed out' } } },
    },
    '/api/v1/me': {
      get: { operationId: 'me', security: agentAuth, responses: { '200': ok('The signed-in agent and their desk phone', ref('Me')), '401': errors['401'] } },
    },
    '/api/v1/me/availability': {
      put: {
        operationId: 'setAvailability',
        security: agentAuth,
        description: 'Available without a registered desk phone is allowed (the phone may register next) but the answer says so in `warning`.',
        requestBody: body(closed({ availability: { enum: ['available', 'away'] } }, ['availability'])),
        responses: { '200': ok('The agent and their desk phone', ref('Me')), ...errors },
      },
    },
    '/api/v1/call-requests': {
      post: {
        operationId: 'createCallRequest',
        summary: 'Knock: ask a customer for a call',
        description:
          'Send an Idempotency-Key header to make retries safe. At most one answerable request exists per customer and agent: a knock while one stands is not made and gets 409 request_already_open naming it (requestId, state, reference, answerDeadline, and scheduledFor: the callback time of a scheduled request, else null); the agent cancels it to knock again. A request the customer can no longer answer (expired, or past its deadline or hold with its job late) is closed and never blocks a new knock.',
        security: agentAuth,
        parameters: [
          {
            name: 'Idempotency-Key',
            in: 'header',
            required: false,
            description:
              'must be 1 to 255 printable ASCII characters. The same key with the same body returns the first request (200, with Idempotent-Replayed: true); with another body: 422 idempotency_key_reused. Keys belong to the caller (agent or API key).',
            schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x20-\\x7e]+$' },
          },
        ],
        requestBody: body(
          closed(
            {
              customerId: uuid,
              reason: text(300),
              reference: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._/#-]+$' },
              groupId: { type: 'string', maxLength: 40 },
              agentId: uuid,
            },
            ['customerId', 'reason', 'reference'],
          ),
        ),
        responses: {
          '201': ok(
            'Created and notified. reachedBy: the channels that reached the customer (app: the open app over its live stream; webpush; sms), empty when the notification was left to the outbox to send shortly',
            closed({ ...callRequestProps, reachedBy: { type: 'array', items: { enum: ['app', 'webpush', 'sms'] } } }, [...callRequestRequired, 'reachedBy']),
          ),
          '200': {
            ...ok('A replay: the same Idempotency-Key and body as an earlier knock, answered with its request', ref('CallRequest')),
            headers: { 'Idempotent-Replayed': { description: 'Always true: nothing new was made or sent', schema: { const: 'true' } } },
          },
          '409': { description: 'request_already_open: the customer still has an answerable request from this agent (requestId, state, reference, answerDeadline, scheduledFor: the callback time of a scheduled request, else null)', content: { 'application/problem+json': { schema: problem } } },
          '404': refused('not_found: no such customer'),
          '422': { description: 'idempotency_key_reused, or no_reachable_device', content: { 'application/problem+json': { schema: problem } } },
          ...errors,
        },
      },
      get: {
        operationId: 'listCallRequests',
        description: 'Newest first (by the time the request was made): the latest `limit` requests in the scope, optionally of the given states (comma-separated).',
        security: agentAuth,
        parameters: [
          { name: 'state', in: 'query', schema: { type: 'string', maxLength: 300 } },
          { name: 'scope', in: 'query', schema: { enum: ['mine', 'group', 'all'] } },
          { name: 'limit', in: 'query', description: 'At most 200; 100 when not given.', schema: { type: 'integer', minimum: 1, maximum: 200, default: 100 } },
        ],
        responses: { '200': ok('Requests', itemsOf(ref('CallRequest'))) },
      },
    },
    '/api/v1/call-requests/{id}': {
      get: {
        operationId: 'getCallRequest',
        security: agentAuth,
        responses: {
          '200': ok('Request with its notifications', closed({ ...callRequestProps, notifications: { type: 'array', items: ref('Notification') } }, [...callRequestRequired, 'notifications'])),
          '404': refused('not_found: no such request'),
          ...errors,
        },
      },
    },
    '/api/v1/call-requests/{id}/cancel': {
      post: {
        operationId: 'cancelCallRequest',
        security: agentAuth,
        responses: {
          '200': ok('Cancelled', ref('CallRequest')),
          '404': refused('not_found: no such request'),
          '409': refused('illegal_transition: it is already finished, or in a call'),
          ...errors,
        },
      },
    },
    '/api/v1/call-requests/{id}/transfer': {
      post: {
        operationId: 'transferCall',
        summary: "Transfer the request's call in progress to an agent or a group",
        description:
          'Checked, audited and sent to the service instance holding the call, which carries it out: 202 means that instance has taken it, not that it is done. Progress arrives on GET /api/v1/events as `transfer.changed` (requested, ringing, completed, failed with a reason). Only the agent on the call, a supervisor, an admin or an integration may transfer it. For a group the agent is chosen by routing (longest idle, desk phone registered).',
        security: agentAuth,
        requestBody: body({
          oneOf: [closed({ toAgentId: uuid }, ['toAgentId']), closed({ toGroup: text(64) }, ['toGroup'])],
        }),
        responses: {
          '202': ok('Transfer scheduled: transferId, requestId, fromAgentId, toAgentId, toGroup, state "requested"', ref('Transfer')),
          '403': { description: 'Not your call', content: { 'application/problem+json': { schema: problem } } },
          '404': { description: 'No such request, agent or group', content: { 'application/problem+json': { schema: problem } } },
          '409': { description: 'No verified call in progress (ended, or not connected), or the instance holding it has stopped or no longer holds it', content: { 'application/problem+json': { schema: problem } } },
          '503': { description: 'unavailable: the instance holding the call did not answer within 3 s (or the database is away); nothing was started', content: { 'application/problem+json': { schema: problem } } },
          ...errors,
        },
      },
    },
    '/api/v1/me/call': {
      get: {
        operationId: 'myCall',
        summary: "The signed-in agent's verified call in progress (the console's call screen after a reload)",
        security: agentAuth,
        responses: { '200': ok('Same fields as the call.connected event', ref('CallOnScreen')), '204': { description: 'Not on a verified call' } },
      },
    },
    '/api/v1/call-requests/{id}/call-now': {
      post: {
        operationId: 'callbackNow',
        summary: 'Start a scheduled callback now',
        description:
          '"agent calls" mode: the signed-in agent (for an integration: the request\'s agent) is reserved and the SIP server dials them, then the customer. "customer calls" mode: the customer is prompted to place the call now. The callback\'s scheduled job is dropped.',
        security: agentAuth,
        responses: {
          '200': ok('The request (agent_dialled or prompted), with mode and customerNotified', closed({ ...callRequestProps, mode: { enum: ['customer_calls', 'agent_calls'] }, customerNotified: { type: ['boolean', 'null'], description: 'customer_calls: whether a notification reached the customer; null in agent_calls mode' } }, [...callRequestRequired, 'mode', 'customerNotified'])),
          '403': { description: 'Not your callback', content: { 'application/problem+json': { schema: problem } } },
          '409': { description: 'Not a callback waiting to be made, or the agent is not available', content: { 'application/problem+json': { schema: problem } } },
          ...errors,
        },
      },
    },
    '/api/v1/callbacks': {
      get: { operationId: 'listCallbacks', security: agentAuth, responses: { '200': ok('Scheduled callbacks, soonest first', itemsOf(ref('CallRequest'))) } },
    },
    '/api/v1/queues': {
      get: {
        operationId: 'listQueues',
        security: agentAuth,
        responses: {
          '200': ok(
            'Work per group, oldest first: waiting (notified, accepted, authenticated, due, prompted) and, apart, snoozed (the customer asked to be reminded later)',
            itemsOf(closed({ groupId: { type: 'string' }, name: { type: 'string' }, waiting: { type: 'array', items: ref('CallRequest') }, snoozed: { type: 'array', items: ref('CallRequest') } }, ['groupId', 'name', 'waiting', 'snoozed'])),
          ),
        },
      },
    },
    '/api/v1/events': {
      get: { operationId: 'events', security: agentAuth, description: 'Server-Sent Events from every service instance: request.changed, agent.changed; for the call screen call.ringing, call.connected (customer name, reference, verification method/time/via), call.ended; transfer.changed (requested, ringing, completed, failed with reason). Agents get their own events only. Each event has an `id:`; reconnect with the `Last-Event-ID` header to get what was missed (kept an hour).', parameters: [lastEventIdHeader], responses: { '200': { description: 'text/event-stream' }, ...errors } },
    },
    '/api/v1/customers': {
      get: {
        operationId: 'searchCustomers',
        security: agentAuth,
        parameters: [{ name: 'q', in: 'query', required: true, description: 'Name, phone or external reference; the first 50 matches.', schema: { type: 'string', minLength: 1, maxLength: 100 } }],
        responses: { '200': ok('Customers', itemsOf(ref('Customer'))) },
      },
      post: {
        operationId: 'createCustomer',
        security: agentAuth,
        requestBody: body(
          closed(
            { name: displayName(200), phone: { type: ['string', 'null'], maxLength: 32 }, timeZone: { type: ['string', 'null'], maxLength: 64 }, externalRef: { type: ['string', 'null'], maxLength: 100 } },
            ['name'],
          ),
        ),
        responses: { '201': ok('Customer', ref('Customer')), ...errors },
      },
    },
    '/api/v1/customers/{id}': {
      get: { operationId: 'getCustomer', security: agentAuth, responses: { '200': ok('Customer', ref('Customer')), ...errors } },
    },
    '/api/v1/call-records': {
      get: {
        operationId: 'listCallRecords',
        summary: 'Call history with outcomes (agents see their own calls)',
        security: agentAuth,
        parameters: [{ name: 'limit', in: 'query', description: 'At most 200; 50 when not given.', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } }],
        responses: { '200': ok('Call records, newest first', itemsOf(ref('CallRecord'))) },
      },
    },
    '/api/v1/customers/{id}/devices': {
      get: { operationId: 'listCustomerDevices', summary: "The customer's devices that are not revoked", security: agentAuth, responses: { '200': ok('Devices', itemsOf(ref('Device'))), ...errors } },
    },
    '/api/v1/customers/{id}/devices/{deviceId}': {
      delete: {
        operationId: 'revokeCustomerDevice',
        summary: "Revoke a customer's device (lost or stolen phone)",
        description:
          'For good and at once: the device credential is refused (401), tokens already issued to the device are refused at call setup (device_revoked), and the device is never notified or rung again. Audited (device.revoke). Repeating it answers 204 again.',
        security: agentAuth,
        responses: { '204': { description: 'Revoked' }, '404': { description: 'No such device for this customer', content: { 'application/problem+json': { schema: problem } } }, ...errors },
      },
    },
    '/api/v1/customers/{id}/enrollment-codes': {
      post: { operationId: 'createEnrollmentCode', security: agentAuth, responses: { '201': ok('One-time code', closed({ code: { type: 'string' }, expiresAt: dateTime }, ['code', 'expiresAt'])), ...errors } },
    },
    '/api/v1/agents': {
      get: { operationId: 'listAgents', security: agentAuth, responses: { '200': ok('Agents', itemsOf(ref('Agent'))) } },
      post: {
        operationId: 'createAgent',
        security: agentAuth,
        requestBody: body(
          closed(
            {
              username: text(64),
              name: displayName(200),
              extension: { type: 'string', pattern: '^[0-9]{2,10}$' },
              password: { type: 'string', minLength: 10, maxLength: 200 },
              groups: { type: 'array', items: { type: 'string', maxLength: 40 }, maxItems: 50 },
              role: { enum: ['agent', 'supervisor', 'admin'] },
            },
            ['username', 'name', 'extension', 'password'],
          ),
        ),
        responses: { '201': ok('Agent', ref('Agent')), ...errors },
      },
    },
    '/api/v1/groups/{id}': {
      put: {
        operationId: 'saveGroup',
        security: agentAuth,
        requestBody: body(
          closed(
            {
              name: displayName(200),
              timeZone: text(64),
              businessHours: { $ref: '#/components/schemas/WeeklyHours' },
              slotCapacity: { type: ['integer', 'null'], minimum: 1 },
              slotMinutes: { type: 'integer', enum: [...SLOT_MINUTES], description: 'Divides an hour (every hour starts a slot) or is whole hours dividing a day.' },
              callbackMode: { enum: ['customer_calls', 'agent_calls'] },
            },
            ['name', 'timeZone', 'businessHours'],
          ),
        ),
        responses: { '200': ok('Group', ref('Group')), ...errors },
      },
    },
    '/api/v1/groups': {
      get: { operationId: 'listGroups', security: agentAuth, responses: { '200': ok('Groups', itemsOf(ref('Group'))) } },
    },
    '/api/v1/api-keys': {
      post: {
        operationId: 'createApiKey',
        security: agentAuth,
        requestBody: body(closed({ name: text(100), scopes: { type: 'array', items: { type: 'string', maxLength: 40 }, minItems: 1, maxItems: 10 } }, ['name', 'scopes'])),
        responses: { '201': ok('The key (shown once)', closed({ key: { type: 'string' }, id: uuid, name: { type: 'string' }, scopes: { type: 'array', items: { type: 'string' } } }, ['key', 'id', 'name', 'scopes'])), ...errors },
      },
      get: { operationId: 'listApiKeys', summary: 'API keys (admin): id, name, scopes, createdAt, revokedAt; never the key', security: agentAuth, responses: { '200': ok('API keys', itemsOf(ref('ApiKey'))) } },
    },
    '/api/v1/api-keys/{id}': {
      delete: {
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key (admin)',
        description: 'At once: the key gets 401 on its next request. Audited (apikey.revoke).',
        security: agentAuth,
        responses: { '204': { description: 'Revoked' }, '404': { description: 'No active key with this id', content: { 'application/problem+json': { schema: problem } } }, ...errors },
      },
    },
    '/api/v1/audit/verify': {
      get: { operationId: 'verifyAudit', security: agentAuth, responses: { '200': ok('Chain verification result', closed({ ok: { type: 'boolean' }, entries: { type: 'integer' }, firstBadSeq: { type: ['integer', 'null'] }, problem: nullableText }, ['ok', 'entries', 'firstBadSeq', 'problem'])) } },
    },
    '/api/v1/routing': {
      get: {
        operationId: 'getRouting',
        summary: 'The routing file in force on this instance (admin)',
        security: agentAuth,
        responses: {
          '200': {
            description: 'Version, when it was loaded, and what it holds',
            content: { 'application/json': { schema: { allOf: [{ $ref: '#/components/schemas/RoutingVersion' }], properties: { instance: { type: 'string' } } } } },
          },
          '403': refused('forbidden: admins only'),
          '409': { description: 'This instance does not route calls (sip.enabled is off)', content: { 'application/problem+json': { schema: problem } } },
          ...errors,
        },
      },
    },
    '/api/v1/routing/reload': {
      post: {
        operationId: 'reloadRouting',
        summary: 'Reload the routing file on every instance, without a restart (admin)',
        description:
          "This instance reads its routing file (sip.routingFile) and checks it as start-up does. With any problem nothing changes anywhere: 422 `routing_invalid` lists every problem as `file:line:column: path: message`. Otherwise the new routing replaces the old at once for new calls (calls already set up or ringing keep theirs), the reload is audited (`routing.reload`, with what changed), and every other live instance is told over the database to reload its own file; the answer lists what each answered within a few seconds. The same reload, on one instance only, is `kill -HUP <pid>`.",
        security: agentAuth,
        responses: {
          '200': {
            description: 'Reloaded (or the file is unchanged) here; what the other instances answered',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['instance', 'status', 'active', 'previousVersion', 'changes', 'summary', 'warnings', 'instances', 'notAnswered'],
                  properties: {
                    instance: { type: 'string', description: 'This instance (server.instanceName)' },
                    status: { enum: ['reloaded', 'unchanged'] },
                    active: { $ref: '#/components/schemas/RoutingVersion' },
                    previousVersion: { type: 'string' },
                    changes: { $ref: '#/components/schemas/RoutingChanges' },
                    summary: { type: 'string', description: 'e.g. "numbers: 1 added (2200), 1 removed (2100)"' },
                    warnings: { type: 'array', items: { type: 'string' }, description: 'Agents or groups the file names that the directory does not have (yet)' },
                    instances: {
                      type: 'array',
                      description: 'The other instances that answered: each reloaded its own file',
                      items: {
                        type: 'object',
                        required: ['instance', 'status', 'version', 'loadedAt'],
                        properties: {
                          instance: { type: 'string' },
                          status: { enum: ['reloaded', 'unchanged', 'refused'] },
                          version: { type: 'string' },
                          loadedAt: dateTime,
                          problems: { type: 'array', items: { type: 'string' }, description: 'refused: the first problems of its file (it keeps its routing)' },
                        },
                      },
                    },
                    notAnswered: { type: 'array', items: { type: 'string' }, description: 'Live instances that did not answer in time' },
                  },
                },
              },
            },
          },
          '409': { description: 'This instance does not route calls (sip.enabled is off)', content: { 'application/problem+json': { schema: problem } } },
          '422': {
            description: 'routing_invalid: the file has problems; the routing in force stays on every instance',
            content: {
              'application/problem+json': {
                schema: {
                  allOf: [problem],
                  properties: { problems: { type: 'array', items: { type: 'string' } }, instance: { type: 'string' }, active: { $ref: '#/components/schemas/RoutingVersion' } },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    '/api/v1/devices': {
      get: { operationId: 'listMyDevices', summary: "The devices of this device's customer (not revoked), `current` marking this one", security: deviceAuth, responses: { '200': ok('Devices', itemsOf(ref('Device'))) } },
      post: {
        operationId: 'enrollDevice',
        summary: 'Enrol a customer device with a one-time code',
        requestBody: body(
          closed(
            { enrollmentCode: text(40), label: text(100), publicKeyJwk: { $ref: '#/components/schemas/Jwk' }, pin: { type: ['string', 'null'], maxLength: 12 } },
            ['enrollmentCode', 'label', 'publicKeyJwk'],
          ),
        ),
        responses: { '201': ok('Device and its credential (shown once)', closed({ device: ref('Device'), credential: { type: 'string' } }, ['device', 'credential'])), ...errors },
      },
    },
    '/api/v1/devices/me': {
      get: { operationId: 'getDevice', security: deviceAuth, responses: { '200': ok('This device', ref('Device')) } },
    },
    '/api/v1/devices/{id}': {
      delete: {
        operationId: 'revokeMyDevice',
        summary: "Revoke one of the customer's devices (a lost phone), or this one",
        description: 'For good and at once, as DELETE /api/v1/customers/{id}/devices/{deviceId}. Another customer\'s device is 404.',
        security: deviceAuth,
        responses: { '204': { description: 'Revoked' }, '404': { description: 'No such device of this customer', content: { 'application/problem+json': { schema: problem } } }, ...errors },
      },
    },
    '/api/v1/devices/me/pin/challenge': {
      post: {
        operationId: 'pinChangeChallenge',
        summary: 'A fresh challenge for changing the PIN',
        description:
          'challengeId, challenge (to sign with the device key), expiresAt, methods (what confirms the change: "pin" = the current PIN, "biometric" = a passkey assertion; empty before a first PIN) and webauthn (assertion options when a passkey is set up). 423 pin_locked while the device is locked.',
        security: deviceAuth,
        responses: { '200': ok('Challenge to answer', ref('Challenge')), '423': { description: 'Locked after too many wrong PINs (lockedUntil)', content: { 'application/problem+json': { schema: problem } } }, ...errors },
      },
    },
    '/api/v1/devices/me/pin': {
      put: {
        operationId: 'setPin',
        summary: 'Change (or set a first) PIN',
        description:
          'Answers a challenge from POST /api/v1/devices/me/pin/challenge: signature = the device key\'s ES256 signature of the challenge, plus currentPin (a wrong one counts as a failed PIN attempt) or webauthn (a passkey assertion). A device without a PIN and without a passkey sets its first PIN with the signature alone. A locked device is refused 423 until the lock ends; a new PIN does not lift a lock.',
        security: deviceAuth,
        requestBody: body(
          closed({ pin: text(12), challengeId: uuid, signature: text(200), currentPin: text(32), webauthn: { type: 'object' } }, ['pin', 'challengeId', 'signature']),
        ),
        responses: {
          '204': { description: 'Changed' },
          '403': { description: 'Wrong current PIN (attemptsLeft), wrong signature or passkey', content: { 'application/problem+json': { schema: problem } } },
          '409': { description: 'Challenge unknown, used or expired (challenge_invalid), or the PIN was just changed by another request since the challenge was issued (conflict; nothing counted)', content: { 'application/problem+json': { schema: problem } } },
          '423': { description: 'Locked after too many wrong PINs (lockedUntil)', content: { 'application/problem+json': { schema: problem } } },
          ...errors,
        },
      },
    },
    '/api/v1/devices/me/push-subscription': {
      put: {
        operationId: 'setPushSubscription',
        security: deviceAuth,
        requestBody: body({
          type: 'object',
          required: ['endpoint', 'keys'],
          properties: {
            endpoint: {
              type: 'string',
              maxLength: 2000,
              description: 'An https URL of a public push service; loopback, private, link-local and other special-purpose addresses (or names resolving to them) are refused with 400.',
            },
            keys: closed({ p256dh: text(200), auth: text(100) }, ['p256dh', 'auth']),
          },
        }),
        responses: { '204': { description: 'Saved' }, ...errors },
      },
    },
    '/api/v1/devices/me/sip-registration': {
      post: {
        operationId: 'appSipRegistration',
        summary: 'A single-use token (at most 120 s) for one SIP REGISTER of this device, with the AOR and WebSocket URL',
        security: deviceAuth,
        responses: {
          '200': {
            description: 'token (Authorization: Bearer on REGISTER, with Knock-Device-Proof), expiresAt, aor (sip:<device id>@<domain>), wsUrl, domain',
            content: {
              'application/json': {
                schema: closed({ token: { type: 'string' }, expiresAt: dateTime, aor: { type: 'string' }, wsUrl: { type: 'string' }, domain: { type: 'string' } }, ['token', 'expiresAt', 'aor', 'wsUrl', 'domain']),
              },
            },
          },
          ...errors,
        },
      },
    },
    '/api/v1/devices/me/passkey/options': {
      post: { operationId: 'passkeyOptions', security: deviceAuth, responses: { '200': ok('WebAuthn registration options', closed({ challengeId: uuid, options: webauthnOptions }, ['challengeId', 'options'])) } },
    },
    '/api/v1/devices/me/passkey': {
      post: {
        operationId: 'registerPasskey',
        security: deviceAuth,
        requestBody: body(closed({ challengeId: uuid, response: { type: 'object' } }, ['challengeId', 'response'])),
        responses: { '204': { description: 'Registered' }, ...errors },
      },
    },
    '/api/v1/app/requests': {
      get: { operationId: 'appListRequests', security: deviceAuth, responses: { '200': ok("The customer's open requests", itemsOf(ref('AppRequest'))) } },
    },
    '/api/v1/app/requests/{id}': {
      get: { operationId: 'appGetRequest', security: deviceAuth, responses: { '200': ok('Details and allowed answers', ref('AppRequest')) } },
    },
    '/api/v1/app/requests/{id}/accept': {
      post: {
        operationId: 'appAccept',
        description:
          'Holds the request for this device (for the challenge\'s life, then it goes back to the customer) and issues a challenge. Allowed again on the same device while accepted or verified, to try a failed call again with a fresh authentication. A device whose only method is its PIN is refused 423 pin_locked (lockedUntil) while it is locked, before the request is held.',
        security: deviceAuth,
        responses: {
          '200': ok('Challenge to answer', ref('Challenge')),
          '403': refused('forbidden: the device has neither a passkey nor a PIN'),
          '409': refused('conflict: accepted on another device; illegal_transition: it is not waiting for an answer'),
          '410': refused('request_expired: the agent is no longer waiting (state, answerDeadline); scheduling a call is still possible'),
          '423': refused('pin_locked (lockedUntil)'),
          ...errors,
        },
      },
    },
    '/api/v1/app/requests/{id}/authenticate': {
      post: {
        operationId: 'appAuthenticate',
        security: deviceAuth,
        requestBody: body({
          oneOf: [
            closed({ challengeId: uuid, method: { const: 'biometric' }, webauthn: { type: 'object' } }, ['challengeId', 'method', 'webauthn']),
            closed({ challengeId: uuid, method: { const: 'pin' }, pin: text(12), signature: text(200) }, ['challengeId', 'method', 'pin', 'signature']),
          ],
        }),
        responses: {
          '200': ok('Pre-authentication token and where to call', ref('CallCredential')),
          '403': refused('auth_failed: the passkey assertion, the PIN or the device signature did not verify'),
          '409': refused('challenge_invalid: the challenge is unknown, used or expired (accept again for a fresh one); conflict, illegal_transition'),
          '423': refused('pin_locked (lockedUntil): too many wrong PINs'),
          ...errors,
        },
      },
    },
    '/api/v1/app/requests/{id}/schedule': {
      post: {
        operationId: 'appSchedule',
        security: deviceAuth,
        description:
          'at must be a slot start of the group\'s grid (GET …/slots lists them), inside business hours, not on a closed date (holiday), within the horizon. Refusals: 422 in_the_past, beyond_horizon (latest), outside_business_hours (nextOpen; closedDate on a holiday), not_a_slot (nearest: the slot starts around it); 409 slot_full (alternatives).',
        requestBody: body(closed({ at: dateTime, note: { type: ['string', 'null'], maxLength: 500 } }, ['at'])),
        responses: {
          '200': ok('Scheduled', closed({ ...appRequestProps, calendar: { type: 'string', description: 'Path of the .ics entry' } }, [...appRequestRequired, 'calendar'])),
          '409': refused('slot_full (alternatives); illegal_transition: it can no longer be scheduled'),
          '422': refused('in_the_past, beyond_horizon (latest), outside_business_hours (nextOpen; closedDate on a holiday), not_a_slot (nearest)'),
          ...errors,
        },
      },
    },
    '/api/v1/app/requests/{id}/snooze': {
      post: {
        operationId: 'appSnooze',
        description:
          'Remind me later: minutes is one of requests.remindChoicesMinutes. The request stays answerable until the reminder (answerDeadline becomes snoozeUntil when that is later); the reminder then opens a fresh answer window.',
        security: deviceAuth,
        requestBody: body(closed({ minutes: { type: 'number', exclusiveMinimum: 0 } }, ['minutes'])),
        responses: {
          '200': ok('Snoozed', ref('AppRequest')),
          '409': refused('illegal_transition: only a pending notification can be put off'),
          '410': refused('request_expired: the agent is no longer waiting; scheduling a call is still possible'),
          ...errors,
        },
      },
    },
    '/api/v1/app/requests/{id}/callback.ics': {
      get: { operationId: 'appCalendar', security: deviceAuth, responses: { '200': { description: 'text/calendar' } } },
    },
    '/api/v1/app/requests/{id}/slots': {
      get: {
        operationId: 'appSlots',
        summary: 'Open callback slots, in business hours and within the horizon',
        security: deviceAuth,
        parameters: [
          { name: 'limit', in: 'query', description: 'At most 200; 100 when not given.', schema: { type: 'integer', minimum: 1, maximum: 200, default: 100 } },
          { name: 'after', in: 'query', description: "Only slots starting after this time: the previous page's `next`. The whole horizon is listed page by page.", schema: dateTime },
        ],
        responses: { '200': ok("Slots and the customer's time zone", ref('Slots')), '409': refused('illegal_transition: it can no longer be scheduled'), ...errors },
      },
    },
    '/api/v1/app/requests/{id}/cancel': {
      post: {
        operationId: 'appCancelCallback',
        summary: 'Cancel a scheduled callback',
        security: deviceAuth,
        responses: { '200': ok('Cancelled', ref('AppRequest')), '409': refused('illegal_transition: only a scheduled callback can be called off'), ...errors },
      },
    },
    '/api/v1/app/events': {
      get: {
        operationId: 'appEvents',
        security: deviceAuth,
        description: "Server-Sent Events for this device's customer, from every service instance: request.changed with requestId, state and at (and notification, from this instance). Each change has an `id:`; reconnect with the `Last-Event-ID` header to get what was missed.",
        parameters: [lastEventIdHeader],
        responses: { '200': { description: 'text/event-stream' }, ...errors },
      },
    },
    '/api/v1/branding': {
      get: {
        operationId: 'branding',
        summary: "The bank's name, colours and logo for the pages (branding.* in the configuration); public",
        responses: {
          '200': ok(
            'Branding',
            closed(
              {
                name: { type: 'string' },
                primaryColor: { type: 'string', pattern: '^#[0-9a-f]{6}$' },
                primaryDarkColor: { type: 'string', pattern: '^#[0-9a-f]{6}$' },
                logoUrl: { type: ['string', 'null'], description: 'null: the built-in icon' },
              },
              ['name', 'primaryColor', 'primaryDarkColor', 'logoUrl'],
            ),
          ),
        },
      },
    },
    '/api/v1/push/vapid-public-key': {
      get: { operationId: 'vapidPublicKey', summary: 'The applicationServerKey for Web Push subscriptions', responses: { '200': ok('VAPID public key (base64url)', closed({ publicKey: { type: 'string' } }, ['publicKey'])) } },
    },
    '/.well-known/jwks.json': {
      get: { operationId: 'jwks', responses: { '200': ok('Public keys of pre-authentication tokens', { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: { type: 'object', required: ['kty', 'kid'], properties: { kty: { type: 'string' }, kid: { type: 'string' } } } } } }) } },
    },
    '/api/openapi.json': {
      get: { operationId: 'openApiDocument', summary: 'This document', responses: { '200': ok('OpenAPI 3.1 document', { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { type: 'string' } } }) } },
    },
    '/healthz': { get: { operationId: 'health', responses: { '200': ok('Alive', closed({ status: { const: 'ok' }, version: { type: 'string' } }, ['status', 'version'])) } } },
    '/readyz': {
      get: {
        operationId: 'ready',
        description: 'status (ready, degraded, unready), components up or down, and with SIP the routing file in force (`routing.version`, `routing.loadedAt`).',
        responses: { '200': ok('Ready, or degraded (serving; an optional component is down)', ref('Readiness')), '503': ok('Not ready: a required component is down', ref('Readiness')) },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        description: 'Served on this port only when metrics.token is set, to Authorization: Bearer <metrics.token>; otherwise on the metrics.listen address (loopback by default).',
        security: [{ metricsBearer: [] }],
        responses: { '200': { description: 'Prometheus text format' }, '401': refused('unauthenticated: missing or wrong token'), '404': refused('not_found: no metrics.token set') },
      },
    },
  },
} as const;

// Every operation describes its error answers: the specific statuses above where they say more,
// and the shared 4XX/5XX problem answers for the rest, so clients and the response check
// (response-check.ts) find a schema for every error body.
for (const item of Object.values(document.paths) as Array<Record<string, { responses: Record<string, unknown> }>>) {
  for (const op of Object.values(item)) Object.assign(op.responses, { ...anyProblem, ...op.responses });
}

export const openApiDocument = document;
