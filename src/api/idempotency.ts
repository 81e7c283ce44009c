/**
 * The fingerprint an Idempotency-Key is stored with: SHA-256 over who sent it and the canonical
 * JSON of the body (keys sorted at every level), so the same request with its keys in another
 * order matches, a different request does not, and another caller's request never does (an API
 * key is named by its id: a later key with the same name is another caller).
 */
import { createHash } from 'node:crypto';
import type { Principal } from './auth.js';

/** JSON with object keys sorted at every level (arrays keep their order). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestFingerprint(caller: Principal, body: unknown): string {
  const who = caller.kind === 'agent' ? `agent:${caller.agent.id}` : `apikey:${caller.apiKey.id}`;
  return createHash('sha256').update(canonicalJson({ caller: who, body })).digest('base64url');
}
