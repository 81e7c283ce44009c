/**
 * What every repository shares: running a statement with database errors turned into AppErrors,
 * transactions on one pooled client, and the advisory lock keys.
 */
import type pg from 'pg';
import { AppError } from '../../domain/errors.js';

/** A pool or a client inside a transaction; repositories accept either. */
export type Db = pg.Pool | pg.PoolClient;

/** Advisory lock keys (one bigint namespace per database). */
export const LOCK_KEYS = {
  migrations: 7_311_000_001,
  audit: 7_311_000_002,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids arriving from outside may be anything; a malformed one simply matches nothing. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Messages for the constraints a caller can trip; the constraint name is never shown raw. */
const CONSTRAINT_MESSAGES: Record<string, string> = {
  agents_username_key: 'An agent with this username already exists.',
  agents_extension_key: 'Another agent already uses this extension.',
  customers_external_ref_key: 'A customer with this external reference already exists.',
  devices_credential_hash_key: 'This device credential is already registered.',
  devices_key_thumbprint_key: 'This device key is already enrolled.',
  api_keys_name_active: 'An active API key with this name already exists.',
  api_keys_key_hash_key: 'This API key is already registered.',
  agent_group_members_group_id_fkey: 'The agent group does not exist; create the group first.',
  agent_group_members_agent_id_fkey: 'The agent does not exist.',
  call_requests_customer_id_fkey: 'The customer does not exist.',
  call_requests_agent_id_fkey: 'The agent does not exist.',
  call_requests_group_id_fkey: 'The agent group does not exist.',
  call_requests_accepted_device_id_fkey: 'The device does not exist.',
  devices_customer_id_fkey: 'The customer does not exist.',
  enrollment_codes_customer_id_fkey: 'The customer does not exist.',
  customers_phone_e164_check: 'The phone number must be in E.164 form, e.g. +441632960123.',
};

interface PgError {
  code?: string;
  constraint?: string;
  table?: string;
}

/**
 * Turns a driver error into an AppError a caller can act on; other errors pass through. Answers
 * speak of the product, never of the schema: no table, constraint or column name reaches them
 * (the log keeps the driver error of anything unexpected).
 */
export function translateDbError(e: unknown): unknown {
  if (e instanceof AppError || typeof e !== 'object' || e === null) return e;
  const err = e as PgError & { message?: string };
  const known = err.constraint ? CONSTRAINT_MESSAGES[err.constraint] : undefined;
  switch (err.code) {
    case '23505':
      return new AppError('conflict', known ?? 'This record already exists.');
    case '23503':
      return new AppError('validation_failed', known ?? 'It refers to a record that does not exist.');
    case '23514':
    case '23502':
      return new AppError('validation_failed', known ?? 'A value is missing or not allowed.');
    case '22P02':
    case '22007':
    case '22008':
    case '22001':
    case '22003':
      return new AppError('validation_failed', 'A value has the wrong format or is out of range.');
    // Text the database cannot store (a NUL character); the API refuses it earlier, by field.
    case '22021':
    case '22P05':
      return new AppError('validation_failed', 'A text value contains characters that cannot be stored.');
    // A value too large for an index row.
    case '54000':
      return new AppError('validation_failed', 'A value is too long.');
    case '57P01':
    case '57P02':
    case '57P03':
    case '53300':
      return new AppError('unavailable', 'The database is not available right now; try again shortly.');
    // Nothing was written (the transaction rolled back); the same request will very likely pass.
    case '40001':
    case '40P01':
      return new AppError('unavailable', 'The database could not complete this change right now; try again shortly.');
  }
  if (err.code?.startsWith('08') || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(err.code ?? '')) {
    return new AppError('unavailable', 'The database is not reachable right now; try again shortly.');
  }
  if (
    err.message === 'Connection terminated unexpectedly' ||
    err.message === 'Client was closed and is not queryable' ||
    err.message === 'Client has encountered a connection error and is not queryable' ||
    err.message === 'timeout exceeded when trying to connect' ||
    err.message === 'Connection terminated due to connection timeout'
  ) {
    return new AppError('unavailable', 'The database connection was lost; try again shortly.');
  }
  return e;
}

/** Runs one statement; database errors come back as AppErrors. */
export async function query<R extends pg.QueryResultRow>(
  db: Db,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(text, values);
  } catch (e) {
    throw translateDbError(e);
  }
}

/** Pools whose connections share one session (the embedded PGlite): no named statements there. */
const sharedSession = new WeakSet<pg.Pool>();

/**
 * Named prepared statements are per session; on a database that serves every connection from
 * one session (PGlite) two connections preparing the same name collide, so there statements
 * run unnamed.
 */
export function disablePreparedStatements(pool: pg.Pool): void {
  sharedSession.add(pool);
}

/**
 * Runs one of the statements every knock sends as a named prepared statement: each pooled
 * connection has PostgreSQL parse it once, and after a few runs plan it once, instead of on
 * every call. `name` must be unique to `text` (node-postgres refuses a name reused for other
 * text on the same connection). Only for fixed statement texts, never for ones built per call,
 * and with their columns named (a `*` would break the statement when a migration adds one).
 */
export async function prepared<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  name: string,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  try {
    return await pool.query<R>(sharedSession.has(pool) ? { text, values } : { name, text, values });
  } catch (e) {
    throw translateDbError(e);
  }
}

/** Runs fn inside BEGIN/COMMIT on one client; any error rolls back. */
export async function transaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw translateDbError(e);
  }
  // A checked-out client has no listener of the pool's: a server that drops the connection
  // between two statements would otherwise raise an uncaught error. The next statement fails
  // with it instead, and the client is thrown away rather than reused.
  let lost: unknown = null;
  const onError = (e: unknown) => {
    lost = e;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    const known = translateDbError(e);
    if (known instanceof AppError && known.code === 'unavailable') lost ??= e;
    else await client.query('ROLLBACK').catch(() => undefined);
    throw known;
  } finally {
    client.removeListener('error', onError);
    client.release(lost ? (lost as Error) : undefined);
  }
}

/** JSON for a jsonb parameter (pg would turn a top-level array into a PostgreSQL array). */
export function json(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}

/** Caps a caller's limit so one request cannot pull a whole table. */
export function clampLimit(limit: number | undefined, fallback = 100, max = 1000): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.max(1, Math.min(max, Math.floor(limit)));
}

/** Escapes LIKE wildcards so customer search treats the text literally. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
