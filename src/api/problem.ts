/**
 * Errors as RFC 9457 problem details: a stable `code`, a human `detail`, and the HTTP status
 * that fits. Unknown errors are logged in full and answered with a generic 500.
 */
import type { ErrorRequestHandler, Response } from 'express';
import { AppError, isAppError, type ErrorCode } from '../domain/errors.js';
import { translateDbError } from '../store/repos/sql.js';

/** Seconds a client is asked to wait before retrying a 503 (a database restart takes a few). */
const RETRY_AFTER_SECONDS = 2;

const STATUS: Record<ErrorCode, number> = {
  validation_failed: 400,
  invalid_text: 400,
  idempotency_key_reused: 422,
  not_found: 404,
  conflict: 409,
  request_already_open: 409,
  illegal_transition: 409,
  request_expired: 410,
  unauthenticated: 401,
  forbidden: 403,
  auth_failed: 403,
  pin_locked: 423,
  challenge_invalid: 409,
  token_missing: 401,
  token_invalid: 403,
  token_expired: 403,
  token_replayed: 403,
  token_misbound: 403,
  session_revoked: 403,
  device_revoked: 403,
  outside_business_hours: 422,
  in_the_past: 422,
  beyond_horizon: 422,
  slot_full: 409,
  not_a_slot: 422,
  no_agent_available: 503,
  no_reachable_device: 422,
  rate_limited: 429,
  routing_invalid: 422,
  unavailable: 503,
  internal: 500,
};

const TITLES: Partial<Record<number, string>> = {
  400: 'Bad request',
  401: 'Not signed in',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  410: 'No longer available',
  415: 'Unsupported media type',
  422: 'Cannot be done',
  423: 'Locked',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Unavailable',
};

export function statusFor(code: ErrorCode): number {
  return STATUS[code];
}

export function sendProblem(res: Response, err: AppError, instance?: string): void {
  const status = statusFor(err.code);
  if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="knock"');
  if (status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  // A limit says when the next attempt will be counted again (RFC 9110 §10.2.3).
  const retryAfter = err.details?.retryAfterSeconds;
  if (status === 429 && typeof retryAfter === 'number') res.setHeader('Retry-After', String(Math.ceil(retryAfter)));
  res
    .status(status)
    .type('application/problem+json')
    .json({
      type: `urn:knock:problem:${err.code}`,
      title: TITLES[status] ?? 'Error',
      status,
      code: err.code,
      detail: err.message,
      ...(instance ? { instance } : {}),
      ...(err.details ? err.details : {}),
    });
}

/** The last middleware: everything thrown in a route ends here. */
export const problemHandler: ErrorRequestHandler = (err, req, res, _next) => {
  // A database fault that reached here untranslated (a driver or pool error) is still an outage
  // the client can retry after, not a bug: 503, never 500.
  const known = isAppError(err) ? err : translateDbError(err);
  if (isAppError(known)) {
    if (known.code === 'unavailable') req.log?.warn({ err: { message: (err as Error)?.message, code: (err as { code?: string })?.code } }, 'database unavailable');
    sendProblem(res, known, req.originalUrl);
    return;
  }
  // Body parser errors carry a status (malformed JSON, too large, wrong charset).
  const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500) {
    const message = err.type === 'entity.parse.failed' ? 'The request body is not valid JSON.' : err.type === 'entity.too.large' ? 'The request body is too large.' : String(err.message ?? 'Bad request');
    sendProblem(res, new AppError('validation_failed', message), req.originalUrl);
    return;
  }
  req.log?.error({ err }, 'unhandled error');
  sendProblem(res, new AppError('internal', 'Something went wrong on our side; it has been logged.'), req.originalUrl);
};
