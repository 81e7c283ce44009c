/**
 * Opens the Store on PostgreSQL: one connection pool, migrations applied before anything else,
 * and one repository per record kind (see repos/).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { migrate } from './migrate.js';
import { agentLoginRepo } from './repos/agent-login-repo.js';
import { agentRepo } from './repos/agent-repo.js';
import { apiKeyRepo } from './repos/api-key-repo.js';
import { attemptLimitRepo } from './repos/attempt-limit-repo.js';
import { auditRepo } from './repos/audit-repo.js';
import { callRecordRepo } from './repos/call-record-repo.js';
import { callRequestRepo } from './repos/call-request-repo.js';
import { challengeRepo } from './repos/challenge-repo.js';
import { customerRepo } from './repos/customer-repo.js';
import { deviceRepo } from './repos/device-repo.js';
import { enrollmentCodeRepo } from './repos/enrollment-code-repo.js';
import { groupRepo } from './repos/group-repo.js';
import { notificationRepo } from './repos/notification-repo.js';
import { outboxRepo } from './repos/outbox-repo.js';
import { registrationRepo } from './repos/registration-repo.js';
import { serviceInstanceRepo } from './repos/service-instance-repo.js';
import { liveEventRepo } from './repos/live-event-repo.js';
import { appStreamRepo } from './repos/app-stream-repo.js';
import { sessionRepo } from './repos/session-repo.js';
import { disablePreparedStatements, translateDbError } from './repos/sql.js';
import { settingRepo } from './repos/setting-repo.js';
import { sipSubscriptionRepo } from './repos/sip-subscription-repo.js';
import { signingKeyRepo } from './repos/signing-key-repo.js';
import { tokenRepo } from './repos/token-repo.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** postgres:// URL (a server, or the embedded one from startEmbeddedPostgres). */
  url: string;
  poolSize?: number;
  logger?: Logger;
  /** This process's id: stamped on the calls it holds and the agents it makes busy. */
  owner?: string;
}

const PING_TIMEOUT_MS = 2000;

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client dropped by the server must not crash the process; the pool replaces it.
  pool.on('error', (err) => {
    opts.logger?.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'database connection lost');
  });

  try {
    await migrate(pool, opts.logger);
    const { rows } = await pool.query<{ version: string }>('SELECT version()');
    if (/PGlite/i.test(rows[0]?.version ?? '')) disablePreparedStatements(pool);
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw translateDbError(e);
  }

  let closed = false;
  return {
    agents: agentRepo(pool, opts.owner ?? null),
    groups: groupRepo(pool),
    customers: customerRepo(pool),
    devices: deviceRepo(pool),
    enrollmentCodes: enrollmentCodeRepo(pool),
    callRequests: callRequestRepo(pool),
    notifications: notificationRepo(pool),
    challenges: challengeRepo(pool),
    tokens: tokenRepo(pool),
    sessions: sessionRepo(pool),
    callRecords: callRecordRepo(pool, opts.owner ?? null),
    instances: serviceInstanceRepo(pool),
    appStreams: appStreamRepo(pool),
    liveEvents: liveEventRepo(pool),
    audit: auditRepo(pool),
    apiKeys: apiKeyRepo(pool),
    agentLogins: agentLoginRepo(pool),
    signingKeys: signingKeyRepo(pool),
    settings: settingRepo(pool),
    registrations: registrationRepo(pool),
    outbox: outboxRepo(pool),
    attemptLimits: attemptLimitRepo(pool),
    sipSubscriptions: sipSubscriptionRepo(pool),
    url: opts.url,

    async ping() {
      if (closed) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
      });
      const answer = pool
        .query('SELECT 1')
        .then(() => true)
        .catch(() => false);
      try {
        return await Promise.race([answer, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
