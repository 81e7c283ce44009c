/**
 * Starts the whole service for a test: a fresh database on the real PostgreSQL, local stand-ins
 * for the push service and Twilio, the HTTP API on a free loopback port. Returns small helpers to
 * call the API as an agent or a device.
 */
import { pino } from 'pino';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type RunningService } from '../../src/service.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startFakePushService, type FakePushService } from './fake-push-service.js';
import { startFakeTwilio, type FakeTwilio } from './fake-twilio.js';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export interface TestService {
  service: RunningService;
  config: Config;
  url: string;
  push: FakePushService;
  twilio: FakeTwilio;
  db: TestDatabase;
  /** Every log line the service wrote, as text (for checking that no secret is logged). */
  logs: string[];
  /** Shifts the service's clock forward (the job runner keeps real time). */
  advance(ms: number): void;
  call<T = any>(method: string, path: string, opts?: { token?: string; apiKey?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<ApiResponse<T>>;
  stop(): Promise<void>;
}

export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const db = await createTestDatabase();
  const push = await startFakePushService();
  const twilio = await startFakeTwilio();
  const config = loadConfig({
    DATABASE_URL: db.url,
    KNOCK_SERVER__PORT: '0',
    KNOCK_JOBS__PROCESS_EVERY_MS: '100',
    KNOCK_NOTIFY__SMS__ENABLED: 'true',
    KNOCK_NOTIFY__SMS__ACCOUNT_SID: twilio.accountSid,
    KNOCK_NOTIFY__SMS__AUTH_TOKEN: twilio.authToken,
    KNOCK_NOTIFY__SMS__FROM: '+15005550006',
    KNOCK_NOTIFY__SMS__API_BASE_URL: twilio.url,
    KNOCK_DATABASE__POOL_SIZE: '5',
    // Seven days open around the clock, so tests do not depend on when they run.
    KNOCK_SCHEDULING__BUSINESS_HOURS: JSON.stringify(Object.fromEntries(['1', '2', '3', '4', '5', '6', '7'].map((d) => [d, ['00:00-24:00']]))),
    KNOCK_SCHEDULING__DEFAULT_TIME_ZONE: 'UTC',
    // No holidays, and callbacks at any minute: suites schedule callbacks seconds ahead. The
    // scheduling suites turn both on (test/integration/api-scheduling-calendar.test.ts).
    KNOCK_SCHEDULING__CLOSED_DATES: '[]',
    KNOCK_SCHEDULING__SLOT_STARTS_ONLY: 'false',
    // Suites that need SIP turn it on with their own drachtio-server (sip-test-env.ts).
    KNOCK_SIP__ENABLED: 'false',
    // Every answer is checked against the OpenAPI document: a mismatch is a 500 and fails the test.
    KNOCK_SERVER__RESPONSE_CHECK: process.env.KNOCK_SERVER__RESPONSE_CHECK ?? 'fail',
    // Suites run side by side: each metrics listener on a free loopback port.
    KNOCK_METRICS__LISTEN: '127.0.0.1:0',
    // The push service double listens on plain HTTP on loopback.
    KNOCK_NOTIFY__WEBPUSH__ALLOWED_ENDPOINT_ORIGINS: JSON.stringify([push.origin]),
    ...env,
  });
  let offset = 0;
  const logs: string[] = [];
  // Everything down to trace is captured, so a secret logged at any level is caught.
  const logger = pino({ level: 'trace' }, { write: (line: string) => void logs.push(line) });
  const service = await startService(config, { logger, clock: () => new Date(Date.now() + offset), instanceName: 'test' });
  const url = service.url!;
  return {
    service,
    config,
    url,
    push,
    twilio,
    db,
    logs,
    advance(ms) {
      offset += ms;
    },
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${path}`, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsed as any, text };
    },
    async stop() {
      await service.stop();
      await push.close();
      await twilio.close();
      await db.drop();
    },
  };
}
