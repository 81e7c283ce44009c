/**
 * The knock API's bare baseline: the floor for this schema on this machine. A `node:http` server
 * with a `pg` pool and nothing else (no framework, no validation, no sign-in lookups: the bearer
 * tokens are mapped to their agent or device from memory) that makes the durable effects the
 * design requires, each in one statement (one round trip, its own transaction):
 *
 * - create: the request (stored notified, as the service stores a knock), its audit entry in the
 *   hash chain (`audit_log_append`, the chain's lock included) and its expiry job;
 * - accept: the compare-and-set move to accepted with its audit entry.
 *
 * It answers the same paths as the service with the fields the load client reads, so the same
 * load client drives both, and the API part reports the service against it (bench/run.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { JOB_NAMES } from '../src/store/job-names.js';
import { JOBS_TABLE } from '../src/store/job-table.js';
import { auditAppendArgs, auditAppendCall } from '../src/store/repos/audit-repo.js';

export interface BareApiOptions {
  databaseUrl: string;
  poolSize: number;
  /** Agent bearer token → agent id. */
  agents: Map<string, string>;
  /** Device bearer credential → its device and customer. */
  devices: Map<string, { deviceId: string; customerId: string }>;
}

export interface BareApi {
  url: string;
  stop(): Promise<void>;
}

const CREATE = `
WITH r AS (
  INSERT INTO call_requests (reference, reason, customer_id, agent_id, state, answer_deadline, requested_at, created_by)
  VALUES ($1, $2, $3::uuid, $4::uuid, 'notified', now() + interval '5 minutes', now(), $5)
  RETURNING id, answer_deadline
), j AS (
  INSERT INTO "${JOBS_TABLE}" (name, priority, next_run_at, type, data, disabled, fork, last_modified_by)
  SELECT '${JOB_NAMES.expire}', 0, r.answer_deadline, 'normal', jsonb_build_object('requestId', r.id::text), FALSE, FALSE, 'bare'
  FROM r
  RETURNING id
), a AS (
  SELECT (${auditAppendCall(6)}).seq FROM r
)
SELECT r.id FROM r, j, a`;

const ACCEPT = `
WITH u AS (
  UPDATE call_requests SET state = 'accepted', accepted_device_id = $2, version = version + 1, updated_at = now()
  WHERE id = $1 AND customer_id = $3 AND state = 'notified'
  RETURNING id
), a AS (
  SELECT (${auditAppendCall(4)}).seq FROM u
)
SELECT u.id FROM u, a`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export async function startBareApi(opts: BareApiOptions): Promise<BareApi> {
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize });
  pool.on('error', () => undefined);
  const accept = /^\/api\/v1\/app\/requests\/([0-9a-f-]{36})\/accept$/;

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const bearer = (req.headers.authorization ?? '').slice('Bearer '.length);
        const body = await readBody(req);
        if (req.method === 'POST' && req.url === '/api/v1/call-requests') {
          const agentId = opts.agents.get(bearer);
          if (!agentId) return answer(res, 401, { code: 'unauthenticated' });
          const input = JSON.parse(body) as { customerId: string; reason: string; reference: string };
          const audit = auditAppendArgs({ actor: `agent:${agentId}`, action: 'call_request.create', subject: null, decision: 'allow', reason: 'knock' });
          const { rows } = await pool.query<{ id: string }>(CREATE, [input.reference, input.reason, input.customerId, agentId, `agent:${agentId}`, ...audit.args]);
          return answer(res, 201, { id: rows[0]!.id, state: 'notified' });
        }
        const m = req.method === 'POST' ? accept.exec(req.url ?? '') : null;
        if (m) {
          const device = opts.devices.get(bearer);
          if (!device) return answer(res, 401, { code: 'unauthenticated' });
          const audit = auditAppendArgs({ actor: `device:${device.deviceId}`, action: 'call_request.accept', subject: `call_request:${m[1]}`, decision: 'allow', reason: 'accepted' });
          const { rows } = await pool.query(ACCEPT, [m[1], device.deviceId, device.customerId, ...audit.args]);
          if (!rows.length) return answer(res, 409, { code: 'illegal_transition' });
          return answer(res, 200, { id: m[1], state: 'accepted', challengeId: 'bare', webauthn: {} });
        }
        answer(res, 404, { code: 'not_found' });
      } catch (e) {
        answer(res, 500, { code: 'internal', detail: (e as Error).message });
      }
    })();
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
