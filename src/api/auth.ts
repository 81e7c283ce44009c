/**
 * Who is calling: an agent (sign-in token), an integration (X-Api-Key with scopes), or a
 * customer's enrolled device (device credential). Each route states which it accepts.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../domain/errors.js';
import type { Agent, ApiKey, CallRequest, Device } from '../domain/model.js';
import { authenticateAgentToken, authenticateApiKey, type ApiScope } from '../flows/directory.js';
import { authenticateDevice, authenticateDeviceWithRequest } from '../flows/enrollment.js';
import type { FlowDeps } from '../flows/ports.js';
import { idParam } from './validate.js';

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

function deviceCredential(req: Request): string {
  const token = bearer(req);
  if (!token) throw new AppError('unauthenticated', 'This device must send its credential (Authorization: Bearer <device credential>).');
  return token;
}

export function requireDevice(deps: FlowDeps): RequestHandler {
  return wrap(async (req, res, next) => {
    res.locals.device = await authenticateDevice(deps, deviceCredential(req));
    next();
  });
}

/**
 * The app's routes about one call request (`:id`): the device and that request of its customer,
 * read together; `requestOf(res)` is the request as read then.
 */
export function requireDeviceRequest(deps: FlowDeps): RequestHandler {
  return wrap(async (req, res, next) => {
    const credential = deviceCredential(req);
    let id: string;
    try {
      id = idParam(req, 'call request');
    } catch (e) {
      await authenticateDevice(deps, credential); // an unknown device hears 401 whatever the id
      throw e;
    }
    const { device, request } = await authenticateDeviceWithRequest(deps, credential, id);
    res.locals.device = device;
    res.locals.request = request;
    next();
  });
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

export function deviceOf(res: Response): Device {
  return res.locals.device as Device;
}

export function requestOf(res: Response): CallRequest {
  return res.locals.request as CallRequest;
}

export { wrap };
