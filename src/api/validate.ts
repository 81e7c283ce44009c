/**
 * Validates request bodies, query strings and header parameters against the OpenAPI document, by
 * operationId. A failed check answers 400 with every problem listed, before any route code runs.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Request, RequestHandler } from 'express';
import { AppError } from '../domain/errors.js';
import { openApiDocument } from './openapi.js';

type Operation = {
  operationId: string;
  requestBody?: { content: { 'application/json': { schema: object } } };
  parameters?: ReadonlyArray<{ name: string; in: string; required?: boolean; description?: string; schema: object }>;
};

/** Shared with response-check.ts: one compiled copy of the document's components. */
export const ajv = new Ajv2020({ allErrors: true, strict: false, coerceTypes: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
ajv.addSchema({ $id: 'knock', components: openApiDocument.components } as object);

const operations = new Map<string, Operation>();
for (const item of Object.values(openApiDocument.paths)) {
  for (const op of Object.values(item) as Operation[]) operations.set(op.operationId, op);
}

function rewriteRefs(schema: unknown): unknown {
  // Component refs resolve inside the document registered above.
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"knock#/components/'));
}

function describe(errors: NonNullable<ReturnType<typeof ajv.compile>['errors']>, where: string): string[] {
  return errors
    .filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
    .map((e) => {
      const path = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : where;
      const extra = 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : '';
      const allowed = 'allowedValues' in e.params ? `: ${(e.params.allowedValues as unknown[]).join(', ')}` : '';
      return `${path}: ${e.message ?? 'invalid'}${extra}${allowed}`;
    });
}

export function validated(operationId: string): RequestHandler {
  const op = operations.get(operationId);
  if (!op) throw new Error(`OpenAPI document has no operation ${operationId}`);
  const bodySchema = op.requestBody?.content['application/json'].schema;
  const checkBody = bodySchema ? ajv.compile(rewriteRefs(bodySchema) as object) : null;
  const queryParams = (op.parameters ?? []).filter((p) => p.in === 'query');
  const checkQuery = queryParams.length
    ? ajv.compile({
        type: 'object',
        properties: Object.fromEntries(queryParams.map((p) => [p.name, p.schema])),
        required: queryParams.filter((p) => p.required).map((p) => p.name),
      })
    : null;

  // Header parameters: checked under their documented names; a failure says what the document says.
  const headerParams = (op.parameters ?? []).filter((p) => p.in === 'header');
  const checkHeaders = headerParams.length
    ? ajv.compile({
        type: 'object',
        properties: Object.fromEntries(headerParams.map((p) => [p.name, p.schema])),
        required: headerParams.filter((p) => p.required).map((p) => p.name),
      })
    : null;

  return (req, _res, next) => {
    if (checkHeaders) {
      const headers: Record<string, string> = {};
      for (const p of headerParams) {
        const value = req.get(p.name);
        if (value !== undefined) headers[p.name] = value;
      }
      if (!checkHeaders(headers)) {
        const names = [...new Set((checkHeaders.errors ?? []).map((e) => e.instancePath.slice(1) || String((e.params as { missingProperty?: string }).missingProperty ?? 'header')))];
        const problems = names.map((name) => `${name}: ${headerParams.find((p) => p.name === name)?.description ?? 'invalid'}`);
        next(new AppError('validation_failed', `Invalid header: ${problems.join('; ')}`, { errors: problems }));
        return;
      }
    }
    if (checkBody) {
      if (!req.is('application/json')) {
        next(new AppError('validation_failed', 'Send the request body as JSON (Content-Type: application/json).'));
        return;
      }
      if (!checkBody(req.body)) {
        const problems = describe(checkBody.errors ?? [], 'body');
        next(new AppError('validation_failed', `Invalid request body: ${problems.join('; ')}`, { errors: problems }));
        return;
      }
    }
    if (checkQuery) {
      // A scalar parameter repeated (limit=1&limit=2) or written as limit[]=… / limit[x]=… is
      // refused, not ignored: the simple query parser keeps the brackets in the key name.
      const notScalar = new Set<string>();
      for (const [k, v] of Object.entries(req.query)) {
        const name = /^([^[\]]+)\[[^\]]*\]/.exec(k)?.[1] ?? k;
        const param = queryParams.find((p) => p.name === name);
        const type = (param?.schema as { type?: string } | undefined)?.type;
        if (param && type !== 'array' && type !== 'object' && (name !== k || typeof v !== 'string')) notScalar.add(name);
      }
      if (notScalar.size) {
        const problems = [...notScalar].map((name) => `${name}: must be a single value, not an array or object`);
        next(new AppError('validation_failed', `Invalid query: ${problems.join('; ')}`, { errors: problems }));
        return;
      }
      // Query values arrive as strings; numbers are converted before checking.
      const query: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(req.query)) query[k] = typeof v === 'string' && /^-?\d+$/.test(v) && queryParams.find((p) => p.name === k && (p.schema as { type?: string }).type === 'integer') ? Number(v) : v;
      if (!checkQuery(query)) {
        const problems = describe(checkQuery.errors ?? [], 'query');
        next(new AppError('validation_failed', `Invalid query: ${problems.join('; ')}`, { errors: problems }));
        return;
      }
    }
    next();
  };
}

/** The `:id` path parameter when it has a UUID's shape; anything else names nothing ("No such …"). */
export function idParam(req: Request, what: string): string {
  const v = req.params.id;
  if (typeof v !== 'string' || !/^[0-9a-f-]{36}$/i.test(v)) throw new AppError('not_found', `No such ${what}.`);
  return v;
}
