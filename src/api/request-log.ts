/**
 * Request ids and one log line per request. Every request gets an id (the caller's X-Request-Id
 * when it is a plain token, else a new UUID), echoed in the response, and one line when it ends:
 * method, URL, status and time taken. Headers are never logged, so credentials cannot reach the
 * logs from here.
 *
 * Written for the hot path: nothing is serialised per request beyond that line, and the
 * request's child logger (`req.log`, with the id bound) is only made when a route uses it.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';

const GIVEN_ID = /^[\w.-]{1,64}$/;

declare module 'http' {
  interface IncomingMessage {
    /** This request's id. */
    id?: string;
    /** A logger with this request's id bound. */
    log?: Logger;
  }
}

export function requestLog(logger: Logger, opts: { quiet?: (url: string) => boolean } = {}): RequestHandler {
  return (req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && GIVEN_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    req.id = id;
    let child: Logger | undefined;
    Object.defineProperty(req, 'log', {
      configurable: true,
      enumerable: false,
      get: () => (child ??= logger.child({ reqId: id })),
    });
    if (opts.quiet?.(req.url)) {
      next();
      return;
    }

    const start = performance.now();
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      const status = res.statusCode;
      const line = {
        reqId: id,
        req: { method: req.method, url: req.originalUrl },
        res: { statusCode: status },
        responseTime: Math.round(performance.now() - start),
      };
      if (!res.writableFinished) logger.info(line, 'request aborted');
      else if (status >= 500) logger.error(line, 'request errored');
      else logger.info(line, 'request completed');
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
