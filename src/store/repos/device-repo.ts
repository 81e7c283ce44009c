/** Enrolled customer devices: key, WebAuthn credential, PIN state, push subscription. */
import type pg from 'pg';
import { AppError } from '../../domain/errors.js';
import { isLanguage } from '../../domain/language.js';
import type { Device, DeviceSecrets, PushSubscription, WebAuthnCredential } from '../../domain/model.js';
import type { AppSipBinding, ConsumeResult, DeviceRepo, NewDevice, PinCheckReservation } from '../store.js';
import { requestColumns, toCallRequest, unprefixedRequestRow } from './call-request-repo.js';
import { isUuid, json, prepared, query } from './sql.js';

export interface DeviceRow {
  id: string;
  customer_id: string;
  label: string;
  public_key_jwk: Record<string, unknown>;
  key_thumbprint: string;
  webauthn: WebAuthnCredential | null;
  has_pin: boolean;
  push_subscription: PushSubscription | null;
  sip_contact: string | null;
  created_at: Date;
  last_seen_at: Date | null;
  revoked_at: Date | null;
  language: string | null;
}

interface SecretsRow {
  pin_hash: string | null;
  pin_failed_attempts: number;
  pin_locked_until: Date | null;
  pin_version: number;
}

/** The columns toDevice reads; `t` qualifies them with a table alias, for joins. */
export function deviceColumns(t?: string): string {
  const p = t ? `${t}.` : '';
  return `${p}id, ${p}customer_id, ${p}label, ${p}public_key_jwk, ${p}key_thumbprint, ${p}webauthn,
  (${p}pin_hash IS NOT NULL) AS has_pin, ${p}push_subscription, ${p}sip_contact, ${p}created_at, ${p}last_seen_at, ${p}revoked_at, ${p}language`;
}

const COLUMNS = deviceColumns();

export function toDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    customerId: r.customer_id,
    label: r.label,
    publicKeyJwk: r.public_key_jwk,
    keyThumbprint: r.key_thumbprint,
    webauthn: r.webauthn,
    hasPin: r.has_pin,
    pushSubscription: r.push_subscription,
    sipContact: r.sip_contact,
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    revokedAt: r.revoked_at,
    language: isLanguage(r.language) ? r.language : null,
  };
}

function toSecrets(r: SecretsRow): DeviceSecrets {
  return { pinHash: r.pin_hash, pinFailedAttempts: r.pin_failed_attempts, pinLockedUntil: r.pin_locked_until, pinVersion: r.pin_version };
}

export function deviceRepo(pool: pg.Pool): DeviceRepo {
  const set = async (id: string, assignments: string, values: unknown[]) => {
    if (!isUuid(id)) return;
    await query(pool, `UPDATE devices SET ${assignments} WHERE id = $1`, [id, ...values]);
  };

  const readSecrets = async (id: string): Promise<DeviceSecrets | null> => {
    if (!isUuid(id)) return null;
    const res = await query<SecretsRow>(pool, 'SELECT pin_hash, pin_failed_attempts, pin_locked_until, pin_version FROM devices WHERE id = $1', [id]);
    return res.rows[0] ? toSecrets(res.rows[0]) : null;
  };

  return {
    async create(d: NewDevice) {
      const res = await query<DeviceRow>(
        pool,
        `INSERT INTO devices (customer_id, label, public_key_jwk, key_thumbprint, webauthn, push_subscription,
                              pin_hash, credential_hash)
         VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6::jsonb, $7, $8)
         RETURNING ${COLUMNS}`,
        [
          d.customerId,
          d.label,
          json(d.publicKeyJwk),
          d.keyThumbprint,
          json(d.webauthn),
          json(d.pushSubscription),
          d.pinHash,
          d.credentialHash,
        ],
      );
      return toDevice(res.rows[0]!);
    },

    async get(id) {
      if (!isUuid(id)) return null;
      const res = await query<DeviceRow>(pool, `SELECT ${COLUMNS} FROM devices WHERE id = $1`, [id]);
      return res.rows[0] ? toDevice(res.rows[0]) : null;
    },

    /** Revoked devices are returned too (revokedAt set): the caller refuses them with a clear reason. */
    async getByCredentialHash(hash) {
      const res = await prepared<DeviceRow>(pool, 'devices_by_credential', `SELECT ${COLUMNS} FROM devices WHERE credential_hash = $1`, [hash]);
      return res.rows[0] ? toDevice(res.rows[0]) : null;
    },

    async getByCredentialHashWithRequest(hash, requestId) {
      // The app's calls about one request read both on every call: one round trip, not two.
      const res = await prepared<DeviceRow & Record<string, unknown>>(
        pool,
        'devices_by_credential_with_request',
        `SELECT ${deviceColumns('d')}, ${requestColumns('r', 'r_')}
           FROM devices d LEFT JOIN call_requests r ON r.id = $2::uuid AND r.customer_id = d.customer_id
          WHERE d.credential_hash = $1`,
        [hash, isUuid(requestId) ? requestId : null],
      );
      const row = res.rows[0];
      if (!row) return null;
      const request = unprefixedRequestRow(row, 'r_');
      return { device: toDevice(row), request: request ? toCallRequest(request) : null };
    },

    async listForCustomer(customerId) {
      if (!isUuid(customerId)) return [];
      const res = await prepared<DeviceRow>(
        pool,
        'devices_for_customer',
        `SELECT ${COLUMNS} FROM devices WHERE customer_id = $1 AND revoked_at IS NULL ORDER BY created_at, id`,
        [customerId],
      );
      return res.rows.map(toDevice);
    },

    secrets: readSecrets,

    // Only the hash and its version: a PIN change never clears the failure count or a lock-out.
    // Compare-and-set on the version, so parallel changes checked against one PIN make one change.
    async setPin(id, pinHash, pinVersion) {
      if (!isUuid(id)) return false;
      const res = await query(pool, 'UPDATE devices SET pin_hash = $2, pin_version = pin_version + 1 WHERE id = $1 AND pin_version = $3', [id, pinHash, pinVersion]);
      return res.rowCount === 1;
    },
    setWebAuthn: (id, cred) => set(id, 'webauthn = $2::jsonb', [json(cred)]),
    updateWebAuthnCounter: (id, counter) =>
      set(id, `webauthn = jsonb_set(webauthn, '{counter}', to_jsonb($2::bigint))`, [
        counter,
      ]),
    setPushSubscription: (id, sub) => set(id, 'push_subscription = $2::jsonb', [json(sub)]),
    setSipContact: (id, contact) => set(id, 'sip_contact = $2, sip_source = NULL, sip_expires_at = NULL', [contact]),
    setSipRegistration: (id, reg) =>
      set(id, 'sip_contact = $2, sip_source = $3, sip_expires_at = $4', [reg?.contact ?? null, reg?.source ?? null, reg?.expiresAt ?? null]),

    async sipRegistrations(customerId, now): Promise<AppSipBinding[]> {
      if (!isUuid(customerId)) return [];
      const res = await query<{ id: string; sip_contact: string; sip_source: string | null; sip_expires_at: Date | null }>(
        pool,
        `SELECT id, sip_contact, sip_source, sip_expires_at FROM devices
         WHERE customer_id = $1 AND revoked_at IS NULL AND sip_contact IS NOT NULL
           AND (sip_expires_at IS NULL OR sip_expires_at > $2)
         ORDER BY sip_expires_at DESC NULLS LAST, id`,
        [customerId, now],
      );
      return res.rows.map((r) => ({ deviceId: r.id, contact: r.sip_contact, source: r.sip_source, expiresAt: r.sip_expires_at }));
    },

    async purgeExpiredSipRegistrations(now) {
      await query(pool, 'DELETE FROM sip_registration_tokens WHERE expires_at <= $1', [now]);
      const res = await query(
        pool,
        'UPDATE devices SET sip_contact = NULL, sip_source = NULL, sip_expires_at = NULL WHERE sip_expires_at <= $1',
        [now],
      );
      return res.rowCount ?? 0;
    },

    async recordSipRegistrationToken(t) {
      await query(pool, 'INSERT INTO sip_registration_tokens (jti, device_id, expires_at) VALUES ($1, $2, $3)', [t.jti, t.deviceId, t.expiresAt]);
    },

    async consumeSipRegistrationToken(jti, deviceId, callId, now): Promise<ConsumeResult> {
      if (!isUuid(deviceId)) return 'unknown';
      // One conditional UPDATE decides between concurrent presenters (as for call tokens).
      const won = await query(
        pool,
        `UPDATE sip_registration_tokens SET consumed_at = $4, call_id = $3
         WHERE jti = $1 AND device_id = $2 AND consumed_at IS NULL AND expires_at > $4`,
        [jti, deviceId, callId, now],
      );
      if (won.rowCount === 1) return 'consumed';
      const res = await query<{ consumed_at: Date | null }>(pool, 'SELECT consumed_at FROM sip_registration_tokens WHERE jti = $1 AND device_id = $2', [jti, deviceId]);
      const row = res.rows[0];
      if (!row) return 'unknown';
      return row.consumed_at ? 'replayed' : 'expired';
    },
    setLanguage: (id, language) => set(id, 'language = $2', [language]),
    async touch(id, now) {
      if (!isUuid(id)) return;
      // At most one write a minute per device: the stamp is for people ("last seen"), and the
      // app's live stream and every verification would otherwise write the row each time.
      await query(
        pool,
        `UPDATE devices SET last_seen_at = $2 WHERE id = $1 AND (last_seen_at IS NULL OR last_seen_at <= $2::timestamptz - interval '1 minute')`,
        [id, now],
      );
    },

    async reservePinCheck(id, maxAttempts, now, leaseUntil, pinVersion): Promise<PinCheckReservation> {
      if (!isUuid(id)) return { reserved: false, secrets: null };
      // One UPDATE: the row lock serialises concurrent reservations and each re-reads the row, so
      // failures + comparisons in flight never exceed maxAttempts. In-flight counts whose lease
      // ended are dropped (their check died with its process).
      const live = 'CASE WHEN pin_checks_until > $3 THEN pin_checks ELSE 0 END';
      const res = await query<{ pin_hash: string }>(
        pool,
        `UPDATE devices SET pin_checks = ${live} + 1, pin_checks_until = $4
          WHERE id = $1 AND pin_hash IS NOT NULL
            AND (pin_locked_until IS NULL OR pin_locked_until <= $3)
            AND pin_failed_attempts + ${live} < $2
            AND ($5::integer IS NULL OR pin_version = $5)
          RETURNING pin_hash`,
        [id, maxAttempts, now, leaseUntil, pinVersion ?? null],
      );
      if (res.rows[0]) return { reserved: true, pinHash: res.rows[0].pin_hash };
      return { reserved: false, secrets: await readSecrets(id) };
    },

    async finishPinCheck(id, right, maxAttempts, lockUntil, now) {
      // The CTE keeps the lock as it was before this answer, to tell "already locked" apart.
      const res = isUuid(id)
        ? await query<SecretsRow & { was_locked: boolean }>(
            pool,
            `WITH before AS (
               SELECT id, COALESCE(pin_locked_until > $5::timestamptz, false) AS was_locked
               FROM devices WHERE id = $1 FOR UPDATE
             )
             UPDATE devices d SET
               pin_checks = CASE WHEN d.pin_checks_until > $5 THEN GREATEST(d.pin_checks - 1, 0) ELSE 0 END,
               pin_failed_attempts = CASE WHEN before.was_locked THEN d.pin_failed_attempts
                                          WHEN $2 THEN 0
                                          WHEN d.pin_failed_attempts + 1 >= $3 THEN 0
                                          ELSE d.pin_failed_attempts + 1 END,
               pin_locked_until = CASE WHEN before.was_locked OR $2 THEN d.pin_locked_until
                                       WHEN d.pin_failed_attempts + 1 >= $3 THEN $4::timestamptz
                                       ELSE d.pin_locked_until END
             FROM before WHERE d.id = before.id
             RETURNING d.pin_hash, d.pin_failed_attempts, d.pin_locked_until, d.pin_version, before.was_locked`,
            [id, right, maxAttempts, lockUntil, now],
          )
        : { rows: [] };
      const row = res.rows[0];
      if (!row) throw new AppError('not_found', 'The device is not enrolled.');
      return { ...toSecrets(row), wasLocked: row.was_locked };
    },

    async revoke(id, now) {
      if (!isUuid(id)) return false;
      // A revoked device is never notified or rung again: its push subscription and SIP binding go too.
      const res = await query(
        pool,
        `UPDATE devices SET revoked_at = $2, push_subscription = NULL, sip_contact = NULL, sip_source = NULL, sip_expires_at = NULL
          WHERE id = $1 AND revoked_at IS NULL`,
        [id, now],
      );
      return res.rowCount === 1;
    },
  };
}
