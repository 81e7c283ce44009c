/**
 * Agenda's job processor creates a new `debug` logger (`log.extend(…)`) on every pass over its
 * queue, and `debug` calls tty.isatty(stderr) for each one it creates, to choose its colours: a
 * profile of 10,000 callbacks firing put ~5 % of the service's CPU there (nearly 1 job in 5 of
 * the scheduler's main-thread time, with the `debug` bookkeeping around it). Agenda's `debug`
 * (resolved from Agenda, so it is the same instance) is told once what it would find each time.
 * DEBUG_COLORS, when set, still decides.
 */
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';

let settled = false;

export function settleAgendaDebugColours(): void {
  if (settled) return;
  settled = true;
  try {
    const fromAgenda = createRequire(createRequire(import.meta.url).resolve('agenda'));
    const debug = fromAgenda('debug') as { inspectOpts?: Record<string, unknown> };
    if (debug.inspectOpts && !('colors' in debug.inspectOpts)) debug.inspectOpts.colors = isatty(process.stderr.fd);
  } catch {
    // A different layout of Agenda's dependencies: it only costs the CPU above.
  }
}
