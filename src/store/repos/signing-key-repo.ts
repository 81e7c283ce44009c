/** Keys that sign pre-authentication tokens; retired keys stay for verification overlap. */
import type pg from 'pg';
import type { SigningKey } from '../../domain/model.js';
import type { SigningKeyRepo } from '../store.js';
import { json, query } from './sql.js';

interface SigningKeyRow {
  kid: string;
  private_jwk: Record<string, unknown>;
  public_jwk: Record<string, unknown>;
  created_at: Date;
  retired_at: Date | null;
}

function toSigningKey(r: SigningKeyRow): SigningKey {
  return {
    kid: r.kid,
    privateJwk: r.private_jwk,
    publicJwk: r.public_jwk,
    createdAt: r.created_at,
    retiredAt: r.retired_at,
  };
}

export function signingKeyRepo(pool: pg.Pool): SigningKeyRepo {
  return {
    async list() {
      const res = await query<SigningKeyRow>(pool, 'SELECT * FROM signing_keys ORDER BY created_at DESC, kid');
      return res.rows.map(toSigningKey);
    },
    async insert(k) {
      await query(
        pool,
        'INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES ($1, $2::jsonb, $3::jsonb, $4)',
        [k.kid, json(k.privateJwk), json(k.publicJwk), k.createdAt],
      );
    },
    async retire(kid, now) {
      await query(pool, 'UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL', [kid, now]);
    },
  };
}
