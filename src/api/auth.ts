/**
 * Who is calling: an agent (sign-in token), an integration (X-Api-Key with scopes), or a
 * customer's enrolled device (device credential). Each route states which it accepts.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../domain/errors.js';
import type { Agent, ApiKey, Device } from '../domain/model.js';
import { authenticateAgentToken, authenticateApiKey, type ApiScope } from '../flows/directory.js';
import { authenticateDevice } from '../flows/enrollment.js';
import type { FlowDeps } from '../flows/ports.js';

export type Principal =
  | { kind: 'agent'; agent: Agent; scopes: Set<ApiScope>; actor: string }
  | { kind: 'apikey'; apiKey: ApiKey; scopes: Set<ApiScope>; actor: string };

const ROLE_SCOPES: Record<Agent['role'], ApiScope[]> = {
  agent: ['requests:read', 'requests:write', 'directory:read'],
  supervisor: ['requests:read', 'requests:write', 'directory:read'],
  admin: ['requests:read', 'requests:write', 'directory:read', 'admin'],
};

function bearer(req: Request): string | null {
  const h = req.get('authorization');
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1]! : null;
}

type Handler = (req: Request, res: Response, next: NextFunction) => Promise<void>;
const wrap = (fn: Handler): RequestHandler => (req, res, next) => {
  fn(req, res, next).catch(next);
};

/** Agents and integrations; the route lists the scope it needs. */
export function requireStaff(deps: FlowDeps, scope: ApiScope): RequestHandler {
  return wrap(async (req, res, next) => {
    let principal: Principal;
    const key = req.get('x-api-key');
    const token = bearer(req);
    if (key) {
      const apiKey = await authenticateApiKey(deps, key);
      principal = { kind: 'apikey', apiKey, scopes: new Set(apiKey.scopes as ApiScope[]), actor: `apikey:${apiKey.name}` };
    } else if (token) {
      const agent = await authenticateAgentToken(deps, token);
      principal = { kind: 'agent', agent, scopes: new Set(ROLE_SCOPES[agent.role]), actor: `agent:${agent.id}` };
    } else {
      throw new AppError('unauthenticated', 'Sign in first (Authorization: Bearer <token>) or send an X-Api-Key.');
    }
    if (!principal.scopes.has(scope)) throw new AppError('forbidden', `This needs the "${scope}" permission.`);
    res.locals.principal = principal;
    next();
  });
}

export function requireDevice(deps: FlowDeps): RequestHandler {
  return wrap(async (req, res, next) => {
    const token = bearer(req);
    if (!token) throw new AppError('unauthenticated', 'This device must send its credential (Authorization: Bearer <device credential>).');
    const device = await authenticateDevice(deps, token);
    res.locals.device = device;
    next();
  });
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

export function deviceOf(res: Response): Device {
  return res.locals.device as Device;
}

export { wrap };
