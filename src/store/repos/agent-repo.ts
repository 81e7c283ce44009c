/** Agents, their group memberships and their login/SIP secrets. */
import type pg from 'pg';
import type { Agent, AgentSecrets, Availability } from '../../domain/model.js';
import type { AgentRepo, NewAgent } from '../store.js';
import { type Db, isUuid, query, transaction } from './sql.js';

export interface AgentRow {
  id: string;
  username: string;
  name: string;
  extension: string;
  groups: string[];
  availability: Availability;
  idle_since: Date | null;
  role: Agent['role'];
  created_at: Date;
}

interface SecretsRow {
  password_hash: string;
  sip_ha1: string;
  sip_ha1_sha256: string | null;
  sip_realm: string;
}

/** Public columns only; the secrets stay in the table unless secrets() asks for them. */
export const AGENT_SELECT = `
  SELECT a.id, a.username, a.name, a.extension, a.availability, a.idle_since, a.role, a.created_at,
         ARRAY(SELECT m.group_id FROM agent_group_members m WHERE m.agent_id = a.id ORDER BY m.position) AS groups
  FROM agents a`;

export function toAgent(r: AgentRow): Agent {
  return {
    id: r.id,
    username: r.username,
    name: r.name,
    extension: r.extension,
    groups: r.groups,
    availability: r.availability,
    idleSince: r.idle_since,
    role: r.role,
    createdAt: r.created_at,
  };
}

function toSecrets(r: SecretsRow): AgentSecrets {
  return {
    passwordHash: r.password_hash,
    sipHa1: r.sip_ha1,
    sipHa1Sha256: r.sip_ha1_sha256,
    sipRealm: r.sip_realm,
  };
}

async function getOne(db: Db, where: string, value: string): Promise<Agent | null> {
  const res = await query<AgentRow>(db, `${AGENT_SELECT} WHERE ${where}`, [value]);
  return res.rows[0] ? toAgent(res.rows[0]) : null;
}

/** A live binding of agent `a`'s extension at time $2: unexpired and reachable. */
const LIVE_BINDING = `EXISTS (SELECT 1 FROM registrations r WHERE r.extension = a.extension AND r.expires_at > $2 AND r.unreachable_since IS NULL)`;

/** The agent columns of an `UPDATE … RETURNING` named u. */
const AGENT_FROM_U = `SELECT u.id, u.username, u.name, u.extension, u.availability, u.idle_since, u.role, u.created_at,
         ARRAY(SELECT m.group_id FROM agent_group_members m WHERE m.agent_id = u.id ORDER BY m.position) AS groups
  FROM u`;

/** `owner`: this process's id, stamped on every agent it makes busy (see freeWithoutCall). */
export function agentRepo(pool: pg.Pool, owner: string | null = null): AgentRepo {
  return {
    create: (a: NewAgent) =>
      transaction(pool, async (c) => {
        const availability = a.availability ?? 'offline';
        const ins = await query<{ id: string }>(
          c,
          `INSERT INTO agents (username, name, extension, availability, idle_since, role,
                               password_hash, sip_ha1, sip_ha1_sha256, sip_realm)
           VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'available' THEN now() END, $5, $6, $7, $8, $9)
           RETURNING id`,
          [
            a.username,
            a.name,
            a.extension,
            availability,
            a.role,
            a.secrets.passwordHash,
            a.secrets.sipHa1,
            a.secrets.sipHa1Sha256,
            a.secrets.sipRealm,
          ],
        );
        const id = ins.rows[0]!.id;
        const groups = [...new Set(a.groups)];
        if (groups.length > 0) {
          await query(
            c,
            `INSERT INTO agent_group_members (agent_id, group_id, position)
             SELECT $1, g.id, g.ord FROM unnest($2::text[]) WITH ORDINALITY AS g(id, ord)`,
            [id, groups],
          );
        }
        return (await getOne(c, 'a.id = $1', id))!;
      }),

    get: async (id) => (isUuid(id) ? getOne(pool, 'a.id = $1', id) : null),
    getByUsername: (username) => getOne(pool, 'a.username = $1', username),
    getByExtension: (extension) => getOne(pool, 'a.extension = $1', extension),

    async list(filter = {}) {
      const res = filter.groupId
        ? await query<AgentRow>(
            pool,
            `${AGENT_SELECT} WHERE EXISTS (SELECT 1 FROM agent_group_members m WHERE m.agent_id = a.id AND m.group_id = $1)
             ORDER BY a.username`,
            [filter.groupId],
          )
        : await query<AgentRow>(pool, `${AGENT_SELECT} ORDER BY a.username`);
      return res.rows.map(toAgent);
    },

    async secrets(id) {
      if (!isUuid(id)) return null;
      const res = await query<SecretsRow>(
        pool,
        'SELECT password_hash, sip_ha1, sip_ha1_sha256, sip_realm FROM agents WHERE id = $1',
        [id],
      );
      return res.rows[0] ? toSecrets(res.rows[0]) : null;
    },

    async updateSecrets(id, s) {
      if (!isUuid(id)) return;
      await query(
        pool,
        `UPDATE agents SET password_hash = $2, sip_ha1 = $3, sip_ha1_sha256 = $4, sip_realm = $5 WHERE id = $1`,
        [id, s.passwordHash, s.sipHa1, s.sipHa1Sha256, s.sipRealm],
      );
    },

    async setAvailability(id, availability, now) {
      if (!isUuid(id)) return null;
      // Only a change *into* 'available' restarts the idle clock, so "longest idle" stays fair
      // when a client repeats the same status.
      const res = await query<AgentRow>(
        pool,
        `WITH u AS (
           UPDATE agents SET
             idle_since = CASE WHEN $2 = 'available' AND availability <> 'available' THEN $3::timestamptz
                               ELSE idle_since END,
             availability = $2,
             busy_owner = CASE WHEN $2 = 'busy' THEN $4 END,
             busy_since = CASE WHEN $2 = 'busy' THEN $3::timestamptz END
           WHERE id = $1
           RETURNING *)
         SELECT u.id, u.username, u.name, u.extension, u.availability, u.idle_since, u.role, u.created_at,
                ARRAY(SELECT m.group_id FROM agent_group_members m WHERE m.agent_id = u.id ORDER BY m.position) AS groups
         FROM u`,
        [id, availability, now, owner],
      );
      return res.rows[0] ? toAgent(res.rows[0]) : null;
    },

    async reserve(id) {
      if (!isUuid(id)) return false;
      const res = await query(
        pool,
        `UPDATE agents SET availability = 'busy', busy_owner = $2, busy_since = now() WHERE id = $1 AND availability = 'available'`,
        [id, owner],
      );
      return res.rowCount === 1;
    },

    followPhones: (extension, now) =>
      transaction(pool, async (c) => {
        // The row lock first: the next statement's snapshot then sees every binding change
        // committed before it, so of two racing transitions the later one decides.
        const locked = await query<{ id: string }>(c, 'SELECT id FROM agents WHERE extension = $1 FOR UPDATE', [extension]);
        if (!locked.rows[0]) return null;
        const res = await query<AgentRow>(
          c,
          `WITH u AS (
             UPDATE agents a SET
               availability = CASE WHEN ${LIVE_BINDING} THEN 'available' ELSE 'offline' END,
               idle_since = CASE WHEN ${LIVE_BINDING} THEN $2::timestamptz ELSE a.idle_since END,
               busy_owner = NULL, busy_since = NULL
             WHERE a.id = $1
               AND (CASE WHEN ${LIVE_BINDING} THEN a.availability = 'offline' ELSE a.availability <> 'offline' END)
             RETURNING a.*)
           ${AGENT_FROM_U}`,
          [locked.rows[0].id, now],
        );
        return res.rows[0] ? toAgent(res.rows[0]) : null;
      }),

    release: (id, now, requirePhone) =>
      isUuid(id)
        ? transaction(pool, async (c) => {
            const locked = await query(c, `SELECT id FROM agents WHERE id = $1 AND availability = 'busy' FOR UPDATE`, [id]);
            if (!locked.rows[0]) return null;
            const res = await query<AgentRow>(
              c,
              `WITH u AS (
                 UPDATE agents a SET
                   availability = CASE WHEN $3 AND NOT ${LIVE_BINDING} THEN 'offline' ELSE 'available' END,
                   idle_since = $2::timestamptz, busy_owner = NULL, busy_since = NULL
                 WHERE a.id = $1 AND a.availability = 'busy'
                 RETURNING a.*)
               ${AGENT_FROM_U}`,
              [id, now, requirePhone],
            );
            return res.rows[0] ? toAgent(res.rows[0]) : null;
          })
        : Promise.resolve(null),

    async freeWithoutCall(deadOwners, staleBefore, now) {
      // Busy is derived: it needs an open call record, or a live owner that reserved the agent
      // for a call being set up (ringing) no longer than staleBefore allows.
      const res = await query<{ id: string }>(
        pool,
        `UPDATE agents a SET availability = 'available', idle_since = $3, busy_owner = NULL, busy_since = NULL
         WHERE a.availability = 'busy'
           AND (a.busy_owner = ANY($1::text[]) OR a.busy_since IS NULL OR a.busy_since < $2)
           AND NOT EXISTS (SELECT 1 FROM call_records r WHERE r.agent_id = a.id AND r.ended_at IS NULL)
         RETURNING a.id`,
        [deadOwners, staleBefore, now],
      );
      return res.rows.map((r) => r.id);
    },
  };
}
