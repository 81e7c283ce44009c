/**
 * `npm start`: loads and validates the configuration, starts the service, and stops it cleanly
 * on SIGINT/SIGTERM; SIGHUP reloads the routing file.
 */
import { ConfigError, loadConfig } from './config/load-config.js';
import { createLogger } from './runtime/logger.js';
import { RoutingConfigError } from './sip/routing-config.js';
import { startService, type RunningService } from './service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
  const logger = createLogger(config);
  // SIGHUP re-reads this host's routing file (as `reloadxml` does): checked first, swapped only
  // when valid, audited; this instance only (the admin API's reload reaches every instance).
  // Installed before start-up, so an early SIGHUP is not the default action (exit).
  let service: RunningService | null = null;
  process.on('SIGHUP', () => {
    if (!service) {
      logger.warn('SIGHUP during start-up: ignored; send it again once the service is ready');
      return;
    }
    if (!service.sip) {
      logger.warn('SIGHUP: this instance does not route calls (sip.enabled is off); nothing to reload');
      return;
    }
    service.sip.routing.reload({ actor: 'signal:SIGHUP', how: 'signal' }).catch((err: unknown) => logger.error({ err }, 'SIGHUP: routing reload failed'));
  });
  const running = await startService(config, { logger });
  service = running;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    running.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err) => {
  if (err instanceof RoutingConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(78); // EX_CONFIG: the message names the file, line and column
  }
  process.stderr.write(`knock failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
