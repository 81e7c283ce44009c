/**
 * Checks JSON answers against the OpenAPI document (the response side of validate.ts), so the
 * document says what clients really get. It finds the operation by method and path template, the
 * response by status, and validates the body with the same ajv setup as requests.
 *
 * Modes (`server.responseCheck`): `off`; `log` (production: a mismatch is logged once per
 * operation and status, the answer goes out unchanged: a schema slip must never cost a customer
 * their call); `fail` (tests: the answer becomes a 500 problem naming the mismatch, and the
 * mismatch is kept for the test run to report even when a test does not look at the status).
 */
import type { Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ajv } from './validate.js';
import { openApiDocument } from './openapi.js';

export type ResponseCheckMode = 'off' | 'log' | 'fail';

type Responses = Record<string, { content?: Record<string, { schema: object }> }>;
interface Route {
  method: string;
  template: string;
  pattern: RegExp;
  operationId: string;
  responses: Responses;
}

const routes: Route[] = [];
for (const [template, item] of Object.entries(openApiDocument.paths)) {
  // Literal segments before parameters: /api/v1/me/call is not /api/v1/{x}/call.
  const pattern = new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
  for (const [method, op] of Object.entries(item) as Array<[string, { operationId: string; responses: Responses }]>) {
    routes.push({ method: method.toUpperCase(), template, pattern, operationId: op.operationId, responses: op.responses });
  }
}
routes.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0));

/**
 * The OpenAPI path template of a request (`/api/v1/call-requests/{id}`), or null when the
 * document has none: a stable name for the route whatever the outcome (metrics label by it).
 */
export function routeTemplate(method: string, path: string): string | null {
  return routes.find((r) => r.method === method && r.pattern.test(path))?.template ?? null;
}

const compiled = new Map<object, ReturnType<typeof ajv.compile>>();
function checker(schema: object) {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"knock#/components/')) as object);
    compiled.set(schema, check);
  }
  return check;
}
const problemSchema = { $ref: '#/components/schemas/Problem' };

/** What is wrong with this answer by the document, or null when it matches. */
export function responseMismatch(method: string, path: string, status: number, body: unknown): string | null {
  return mismatchOf(method, path, status, body)?.message ?? null;
}

function mismatchOf(method: string, path: string, status: number, body: unknown): { key: string; message: string } | null {
  const route = routes.find((r) => r.method === method && r.pattern.test(path));
  const key = `${method} ${route?.template ?? path} ${status}`;
  const found = (message: string) => ({ key, message });
  const where = `${method} ${path} → ${status}`;
  let schema: object | undefined;
  if (status >= 400) {
    // Every error is a problem document. An operation's error answers are documented like its
    // others: the status itself, else its class (4XX, 5XX) or `default`; a path the document does
    // not know (404, 405) is checked as a problem document too.
    if (route) {
      const response = route.responses[String(status)] ?? route.responses[`${String(status)[0]}XX`] ?? route.responses.default;
      if (!response) return found(`${where}: ${route.operationId} documents no ${status} answer`);
      const content = response.content;
      schema = content?.['application/problem+json']?.schema ?? content?.['application/json']?.schema;
      if (!schema) return found(`${where}: ${route.operationId} documents no JSON body for ${status}`);
    } else {
      schema = problemSchema;
    }
  } else {
    if (!route) return found(`${where}: no operation in the OpenAPI document for this path`);
    const response = route.responses[String(status)];
    if (!response) return found(`${where}: ${route.operationId} documents no ${status} answer`);
    schema = response.content?.['application/json']?.schema;
    if (!schema) return found(`${where}: ${route.operationId} documents no JSON body for ${status}`);
  }
  const check = checker(schema);
  if (check(body)) return null;
  const problems = (check.errors ?? [])
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
    .map((e) => {
      const extra = 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : '';
      return `${e.instancePath || '(body)'} ${e.message ?? 'invalid'}${extra}`;
    });
  return found(`${where}${route ? ` (${route.operationId})` : ''} does not match the OpenAPI document: ${[...new Set(problems)].join('; ')}`);
}

const seen: string[] = [];
/** Mismatches found in `fail` mode since the last call (the test hooks report them). */
export function takeResponseMismatches(): string[] {
  return seen.splice(0, seen.length);
}

export function responseCheck(mode: ResponseCheckMode, logger: Logger): RequestHandler {
  const logged = new Set<string>();
  return (req: Request, res, next) => {
    if (mode === 'off') return next();
    const send = res.json.bind(res);
    res.json = (body: unknown) => {
      // express serialises Dates and the like with JSON.stringify: check what the client gets.
      const wire = body === undefined ? undefined : JSON.parse(JSON.stringify(body));
      const found = mismatchOf(req.method, req.originalUrl.split('?')[0]!, res.statusCode, wire);
      if (!found) return send(body);
      const mismatch = found.message;
      if (mode === 'log') {
        if (!logged.has(found.key)) {
          logged.add(found.key);
          logger.warn({ mismatch }, 'response does not match the OpenAPI document');
        }
        return send(body);
      }
      seen.push(mismatch);
      res.status(500).type('application/problem+json');
      return send({ type: 'urn:knock:problem:internal', title: 'Internal error', status: 500, code: 'internal', detail: mismatch });
    };
    next();
  };
}
