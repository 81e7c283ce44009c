/**
 * Text the service cannot store or pass on is refused at the door, for every route at once:
 * a NUL character (PostgreSQL text cannot hold one) or text that is not valid Unicode (a body
 * whose bytes are not UTF-8, a lone surrogate from a JSON "\ud800" escape). The answer is 400
 * `invalid_text` naming the field, before any route code runs, so nothing is written or used up
 * (an enrollment code, a challenge).
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { AppError } from '../domain/errors.js';

/** With the u flag a surrogate pair reads as one code point, so only an unpaired half matches. */
const LONE_SURROGATE = /\p{Cs}/u;

/** What is wrong with a string, or null when it is fine. */
export function textProblem(value: string): string | null {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'is not valid Unicode (an unpaired surrogate)';
  return null;
}

function refuse(field: string, problem: string): AppError {
  return new AppError('invalid_text', `${field}: ${problem}; send text as valid UTF-8 without NUL characters.`, { field });
}

/** The first bad string in a parsed JSON value or query object, with its field path (a.b.0.c). */
function findBadText(value: unknown, path: string): AppError | null {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? refuse(path || 'body', problem) : null;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findBadText(value[i], path ? `${path}.${i}` : String(i));
      if (bad) return bad;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const keyProblem = textProblem(key);
      if (keyProblem) return refuse(path || 'body', `has a property name that ${keyProblem}`);
      const bad = findBadText(inner, path ? `${path}.${key}` : key);
      if (bad) return bad;
    }
  }
  return null;
}

/** For express.json({ verify }): the raw body must be UTF-8 before it is decoded (else bad bytes become U+FFFD silently). */
export function verifyUtf8(_req: IncomingMessage, _res: unknown, body: Buffer, encoding: string): void {
  if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) throw new AppError('invalid_text', 'body: is not valid UTF-8.', { field: 'body' });
}

/** After the body parser: the path, the query string and the JSON body. */
export const refuseBadText: RequestHandler = (req, _res, next) => {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    path = req.path; // malformed escapes are the router's to refuse
  }
  const problem = textProblem(path);
  if (problem) {
    next(refuse('path', problem));
    return;
  }
  next(findBadText(req.query, '') ?? (req.body !== undefined ? findBadText(req.body, '') : null) ?? undefined);
};
