/** Console login sessions of agents (bearer token stored as a hash). */
import type pg from 'pg';
import type { AgentLoginRepo } from '../store.js';
import { query } from './sql.js';

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
    async remove(tokenHash) {
      await query(pool, 'DELETE FROM agent_logins WHERE token_hash = $1', [tokenHash]);
    },
    async purgeExpired(now) {
      const res = await query(pool, 'DELETE FROM agent_logins WHERE expires_at <= $1', [now]);
      return res.rowCount ?? 0;
    },
  };
}
