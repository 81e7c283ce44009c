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

/** Deeper than any body in the OpenAPI document (a few levels) by a wide margin. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when arrays and objects nest deeper than MAX_JSON_DEPTH. JSON.parse takes any depth, but
 * recursive code after it (validation, canonical JSON) would run out of stack: refused first.
 * Iterative, so the check itself cannot overflow.
 */
export function nestedTooDeeply(value: unknown): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) return true;
    for (const inner of Array.isArray(item) ? item : Object.values(item)) {
      if (inner !== null && typeof inner === 'object') stack.push([inner, depth + 1]);
    }
  }
  return false;
}

/** The first bad string in a parsed JSON value or query object, with its field path (a.b.0.c); iterative, like nestedTooDeeply. */
function findBadText(value: unknown, base: string): AppError | null {
  // Walked in document order: the first bad field is the one named.
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      const problem = textProblem(item);
      if (problem) return refuse(path || base, problem);
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    const entries: Array<[string, unknown]> = Array.isArray(item) ? item.map((v, i) => [String(i), v]) : Object.entries(item);
    for (const [key] of entries) {
      const keyProblem = textProblem(key);
      if (keyProblem) return refuse(path || base, `has a property name that ${keyProblem}`);
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, inner] = entries[i]!;
      stack.push([inner, path ? `${path}.${key}` : key]);
    }
  }
  return null;
}

/** For express.json({ verify }): the raw body must be UTF-8 before it is decoded (else bad bytes become U+FFFD silently). */
export function verifyUtf8(_req: IncomingMessage, _res: unknown, body: Buffer, encoding: string): void {
  if (/^utf-?8$/i.test(encoding) && !isUtf8(body)) throw new AppError('invalid_text', 'body: is not valid UTF-8.', { field: 'body' });
}

/**
 * The bytes a percent-encoded URL part stands for, or null for a malformed escape. Characters
 * outside ASCII in the raw URL are taken as the bytes the HTTP parser read them from (latin1).
 */
function percentDecodedBytes(raw: string, plusIsSpace: boolean): Buffer | null {
  const src = Buffer.from(raw, 'latin1');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0x25) {
      const hex = src.toString('latin1', i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/i.test(hex)) return null;
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = plusIsSpace && b === 0x2b ? 0x20 : b;
  }
  return out.subarray(0, n);
}

/** What is wrong with the bytes of a decoded URL part, or null. */
function bytesProblem(bytes: Buffer | null): string | null {
  if (bytes === null) return 'has a malformed percent-escape';
  if (bytes.includes(0)) return 'contains a NUL character';
  // Strict: the parsers after this would replace bad bytes with U+FFFD without a word.
  if (!isUtf8(bytes)) return 'is not valid UTF-8';
  return null;
}

/**
 * The raw path and query string, byte by byte, before express and the router decode them.
 * A query value's problem names its key; a bad key is named "query".
 */
function urlProblem(url: string): AppError | null {
  const q = url.indexOf('?');
  const pathProblem = bytesProblem(percentDecodedBytes(q < 0 ? url : url.slice(0, q), false));
  if (pathProblem) return refuse('path', pathProblem);
  if (q < 0) return null;
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const keyBytes = percentDecodedBytes(eq < 0 ? pair : pair.slice(0, eq), true);
    // querystring keeps malformed escapes as they are: only NUL and bad UTF-8 matter there.
    const keyProblem = keyBytes && bytesProblem(keyBytes);
    if (keyProblem) return refuse('query', `has a parameter name that ${keyProblem}`);
    if (eq < 0) continue;
    const valueBytes = percentDecodedBytes(pair.slice(eq + 1), true);
    const valueProblem = valueBytes && bytesProblem(valueBytes);
    if (valueProblem) return refuse(keyBytes ? keyBytes.toString('utf8') : 'query', valueProblem);
  }
  return null;
}

/** After the body parser: the body's depth first, then the path, the query string and the JSON body. */
export const refuseBadText: RequestHandler = (req, _res, next) => {
  if (req.body !== undefined && nestedTooDeeply(req.body)) {
    next(new AppError('validation_failed', `body: nested too deeply (more than ${MAX_JSON_DEPTH} levels of arrays and objects).`, { errors: ['body: nested too deeply'] }));
    return;
  }
  next(urlProblem(req.originalUrl) ?? (req.body !== undefined ? findBadText(req.body, 'body') : null) ?? undefined);
};
