/**
 * The service's logger: JSON lines for machines (a file, a pipe, a container's log collector),
 * readable lines for a person at a terminal (pino-pretty: local time, colours, no pid/hostname).
 * `log.format`: `auto` (pretty when standard output is a terminal), `pretty` or `json`.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Config } from '../config/config.js';

export function wantsPretty(format: Config['log']['format'], isTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}

export function createLogger(config: Pick<Config, 'log'>, out: NodeJS.WriteStream = process.stdout): Logger {
  const options = { level: config.log.level, base: { service: 'knock' } };
  if (!wantsPretty(config.log.format, out.isTTY === true)) return out === process.stdout ? pino(options) : pino(options, out);
  // Written synchronously in this thread: a person reads it, so order and completeness over speed.
  return pino(options, pretty({ destination: out, colorize: out.isTTY === true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss', ignore: 'pid,hostname,service', sync: true }));
}
