/** API keys for systems calling the REST API (stored as hashes, with scopes). */
import type pg from 'pg';
import type { ApiKey } from '../../domain/model.js';
import type { ApiKeyRepo } from '../store.js';
import { isUuid, query } from './sql.js';

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: string[];
  created_at: Date;
  revoked_at: Date | null;
}

const COLUMNS = 'id, name, scopes, created_at, revoked_at';

function toApiKey(r: ApiKeyRow): ApiKey {
  return { id: r.id, name: r.name, scopes: r.scopes, createdAt: r.created_at, revokedAt: r.revoked_at };
}

export function apiKeyRepo(pool: pg.Pool): ApiKeyRepo {
  return {
    async create(name, scopes, keyHash) {
      const res = await query<ApiKeyRow>(
        pool,
        `INSERT INTO api_keys (name, scopes, key_hash) VALUES ($1, $2::text[], $3) RETURNING ${COLUMNS}`,
        [name, scopes, keyHash],
      );
      return toApiKey(res.rows[0]!);
    },
    async getByHash(keyHash) {
      const res = await query<ApiKeyRow>(
        pool,
        `SELECT ${COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
        [keyHash],
      );
      return res.rows[0] ? toApiKey(res.rows[0]) : null;
    },
    async list() {
      const res = await query<ApiKeyRow>(pool, `SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
      return res.rows.map(toApiKey);
    },
    async revoke(id, now) {
      if (!isUuid(id)) return false;
      const res = await query(pool, 'UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL', [id, now]);
      return res.rowCount === 1;
    },
  };
}
