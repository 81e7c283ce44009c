/** Console login sessions of agents (bearer token stored as a hash). */
import type pg from 'pg';
import type { AgentLoginRepo } from '../store.js';
import { AGENT_SELECT, toAgent, type AgentRow } from './agent-repo.js';
import { prepared, query } from './sql.js';

export function agentLoginRepo(pool: pg.Pool): AgentLoginRepo {
  return {
    async create(tokenHash, agentId, expiresAt) {
      await query(pool, 'INSERT INTO agent_logins (token_hash, agent_id, expires_at) VALUES ($1, $2, $3)', [
        tokenHash,
        agentId,
        expiresAt,
      ]);
    },
    async getAgentId(tokenHash, now) {
      const res = await query<{ agent_id: string }>(
        pool,
        'SELECT agent_id FROM agent_logins WHERE token_hash = $1 AND expires_at > $2',
        [tokenHash, now],
      );
      return res.rows[0]?.agent_id ?? null;
    },
    async getAgent(tokenHash, now) {
      // Every staff request signs in: one round trip for the sign-in and the agent together.
      const res = await prepared<AgentRow>(
        pool,
        'agent_logins_agent',
        `${AGENT_SELECT} JOIN agent_logins l ON l.agent_id = a.id WHERE l.token_hash = $1 AND l.expires_at > $2`,
        [tokenHash, now],
      );
      return res.rows[0] ? toAgent(res.rows[0]) : null;
    },
    async remove(tokenHash) {
      await query(pool, 'DELETE FROM agent_logins WHERE token_hash = $1', [tokenHash]);
    },
    async purgeExpired(now) {
      const res = await query(pool, 'DELETE FROM agent_logins WHERE expires_at <= $1', [now]);
      return res.rowCount ?? 0;
    },
  };
}
