/**
 * What the customer app needs besides the answers in app-routes.ts: its live channel (SSE of its
 * own requests' changes), the VAPID public key to subscribe to Web Push, the open callback slots,
 * cancelling a scheduled callback, and the sip.js modules its call screen loads.
 *
 * The live channel is read by the app with fetch() so the device credential travels in the
 * Authorization header (EventSource cannot send headers, and a credential in a URL ends up in
 * access logs).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { Router, type Request } from 'express';
import { AppError } from '../../domain/errors.js';
import { cancelScheduledCallback } from '../../flows/customer-cancel.js';
import type { FlowDeps } from '../../flows/ports.js';
import { openSlotsForDevice } from '../../flows/slots.js';
import { ensureVapidKeys } from '../../notify/vapid-keys.js';
import { deviceOf, requireDevice, wrap } from '../auth.js';
import { validated } from '../validate.js';
import { appRequestView } from '../views.js';

const KEEP_ALIVE_MS = 15_000;

function requestId(req: Request): string {
  const v = req.params.id;
  if (typeof v !== 'string' || !/^[0-9a-f-]{36}$/i.test(v)) throw new AppError('not_found', 'No such call request.');
  return v;
}

/** The sip.js package's ES modules, served as they are (no bundler). */
function sipJsDir(): string {
  return dirname(createRequire(import.meta.url).resolve('sip.js'));
}

export function appEventsRoutes(deps: FlowDeps): Router {
  const r = Router();
  const device = requireDevice(deps);
  let vapidPublicKey: string | null = null;

  r.get('/api/v1/push/vapid-public-key', wrap(async (_req, res) => {
    // The same pair the push channel signs with: configured, or the one kept in the database.
    vapidPublicKey ??= (await ensureVapidKeys(deps.config.notify.webpush, deps.store.settings)).publicKey;
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.json({ publicKey: vapidPublicKey });
  }));

  r.get('/api/v1/app/events', device, (req, res) => {
    const customerId = deviceOf(res).customerId;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write(': connected\n\n');
    const unsubscribe = deps.events.subscribe((e) => {
      if (e.type !== 'request.changed' || e.customerId !== customerId) return;
      // The app re-reads the request for what it shows; the event only says which and what.
      res.write(`event: request.changed\ndata: ${JSON.stringify({ requestId: e.requestId, state: e.state, at: e.at })}\n\n`);
    });
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  });

  r.get('/api/v1/app/requests/:id/slots', device, validated('appSlots'), wrap(async (req, res) => {
    const limit = req.query.limit === undefined ? 1000 : Number(req.query.limit);
    res.json(await openSlotsForDevice(deps, deviceOf(res), requestId(req), limit));
  }));

  r.post('/api/v1/app/requests/:id/cancel', device, wrap(async (req, res) => {
    const d = deviceOf(res);
    const cancelled = await cancelScheduledCallback(deps, d, requestId(req));
    const agent = await deps.store.agents.get(cancelled.agentId);
    res.json(appRequestView(cancelled, agent?.name ?? 'Your adviser', deps.clock(), deps.config.requests.remindChoicesMinutes));
  }));

  r.use(
    '/vendor/sip.js',
    (req, _res, next) => (req.path.endsWith('.js') ? next() : next(new AppError('not_found', `No such file: ${req.path}.`))),
    express.static(sipJsDir(), { index: false, maxAge: '1h' }),
  );
  return r;
}
