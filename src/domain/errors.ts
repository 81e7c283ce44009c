/**
 * Errors are values with a stable code and a message a person can act on.
 * Adapters map codes to their protocol (HTTP status, SIP response); the domain never does.
 */
export type ErrorCode =
  | 'validation_failed'
  /** Text with a NUL character or not valid Unicode (an unpaired surrogate, bytes that are not UTF-8). */
  | 'invalid_text'
  /** An Idempotency-Key used again with a different request. */
  | 'idempotency_key_reused'
  | 'not_found'
  | 'conflict'
  /** A knock while the customer still has an answerable request from the same agent (named in the details). */
  | 'request_already_open'
  | 'illegal_transition'
  | 'request_expired'
  | 'unauthenticated'
  | 'forbidden'
  | 'auth_failed'
  | 'pin_locked'
  | 'challenge_invalid'
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'token_replayed'
  | 'token_misbound'
  | 'session_revoked'
  | 'device_revoked'
  | 'outside_business_hours'
  | 'in_the_past'
  | 'beyond_horizon'
  | 'slot_full'
  /** A callback time between two slot starts of the group's grid (`nearest` names the slots around it). */
  | 'not_a_slot'
  | 'no_agent_available'
  | 'no_reachable_device'
  | 'rate_limited'
  /** A routing file with problems (each `file:line:column: path: message`); the old routing stays. */
  | 'routing_invalid'
  | 'unavailable'
  | 'internal';

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable facts (e.g. the alternatives offered when a slot is full). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
