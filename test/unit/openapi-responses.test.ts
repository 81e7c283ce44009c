/**
 * The OpenAPI document describes every answer's body, and the response check (on in every API
 * test, see test/support/hooks.ts) refuses answers that differ from it.
 */
import assert from 'node:assert/strict';
import { openApiDocument } from '../../src/api/openapi.js';
import { responseMismatch } from '../../src/api/response-check.js';

type Op = { operationId: string; responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> };

describe('OpenAPI response bodies', () => {
  it('describes every JSON answer with more than "an object"', () => {
    const vague: string[] = [];
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      for (const [method, op] of Object.entries(item) as Array<[string, Op]>) {
        for (const [status, response] of Object.entries(op.responses)) {
          const schema = response.content?.['application/json']?.schema;
          if (schema && !('$ref' in schema) && !('properties' in schema)) vague.push(`${method} ${path} ${status}`);
        }
      }
    }
    assert.deepEqual(vague, []);
  });

  it('accepts an answer as documented and names what differs otherwise', () => {
    const health = { status: 'ok', version: '1.0.0' };
    assert.equal(responseMismatch('GET', '/healthz', 200, health), null);
    assert.match(responseMismatch('GET', '/healthz', 200, { ...health, extra: 1 }) ?? '', /health\) does not match the OpenAPI document: \(body\) must NOT have additional properties "extra"/);
    assert.match(responseMismatch('GET', '/healthz', 201, health) ?? '', /health documents no 201 answer/);
    assert.match(responseMismatch('GET', '/nowhere', 200, {}) ?? '', /no operation in the OpenAPI document/);
    const agent = { id: '8b0c3c62-4f4e-4a36-9d0e-2d3f1b9f6b11', username: 'anna', name: 'Anna', extension: '1001', groups: [], availability: 'available', idleSince: null, role: 'agent' };
    assert.equal(responseMismatch('GET', '/api/v1/agents', 200, { items: [agent] }), null);
    const me = { ...agent, deskPhoneRegistered: false, warning: null };
    assert.equal(responseMismatch('GET', '/api/v1/me', 200, me), null);
    assert.match(responseMismatch('GET', '/api/v1/me', 200, agent) ?? '', /must have required property 'deskPhoneRegistered'/);
    // Path templates: /api/v1/me/call is its own operation, not /api/v1/me.
    assert.match(responseMismatch('GET', '/api/v1/me/call', 200, me) ?? '', /myCall/);
    assert.match(responseMismatch('GET', '/api/v1/me', 200, { ...me, availability: 'asleep' }) ?? '', /\/availability must be equal to one of the allowed values/);
  });

  it('checks every error as a problem document', () => {
    const problem = { type: 'urn:knock:problem:not_found', title: 'Not found', status: 404, code: 'not_found', detail: 'No such request.' };
    assert.equal(responseMismatch('GET', '/api/v1/call-requests/8b0c3c62-4f4e-4a36-9d0e-2d3f1b9f6b11', 404, problem), null);
    assert.match(responseMismatch('GET', '/api/v1/anything', 404, { error: 'nope' }) ?? '', /must have required property 'code'/);
    // An operation's own error answers (a specific status, or its 4XX) are checked the same way.
    const authenticate = '/api/v1/app/requests/8b0c3c62-4f4e-4a36-9d0e-2d3f1b9f6b11/authenticate';
    assert.equal(responseMismatch('POST', authenticate, 409, { ...problem, status: 409, code: 'challenge_invalid' }), null);
    assert.match(responseMismatch('POST', authenticate, 409, { error: 'nope' }) ?? '', /appAuthenticate\) does not match the OpenAPI document: \(body\) must have required property/);
    assert.match(responseMismatch('POST', authenticate, 429, { error: 'nope' }) ?? '', /must have required property 'code'/);
    // A status the document gives a JSON body of its own is checked against that.
    assert.equal(responseMismatch('GET', '/readyz', 503, { status: 'unready', components: { database: 'up', sip: 'down' } }), null);
  });

  it('documents the error answers of every operation as problem documents', () => {
    const missing: string[] = [];
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      for (const [method, op] of Object.entries(item) as Array<[string, Op]>) {
        for (const status of ['4XX', '5XX']) {
          if (!op.responses[status]?.content?.['application/problem+json']) missing.push(`${method} ${path} ${status}`);
        }
      }
    }
    assert.deepEqual(missing, []);
    // The refusals clients must tell apart are named with their status.
    const responses = (path: string, method: string) => (openApiDocument.paths as Record<string, Record<string, Op>>)[path]![method]!.responses;
    assert.ok(responses('/api/v1/call-requests/{id}', 'get')['404']);
    assert.ok(responses('/api/v1/call-requests', 'post')['404']);
    assert.ok(responses('/api/v1/routing', 'get')['403']);
    assert.ok(responses('/api/v1/me', 'get')['401']);
    assert.ok(responses('/api/v1/app/requests/{id}/authenticate', 'post')['403']);
    assert.ok(responses('/api/v1/app/requests/{id}/authenticate', 'post')['409']);
    assert.ok(responses('/api/v1/app/requests/{id}/accept', 'post')['410']);
    assert.ok(responses('/api/v1/app/requests/{id}/schedule', 'post')['422']);
  });
});
