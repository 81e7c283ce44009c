/**
 * `npm run admin -- <command>`: the operator's tool for the directory and the audit log, using
 * the same configuration (and database) as the service.
 */
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { Config } from '../config/config.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { isAppError } from '../domain/errors.js';
import { RoutingConfigError } from '../sip/routing-config.js';
import { readRoutingFile } from '../sip/routing-reload.js';
import { createAgent, createApiKey, createCustomer, saveGroup } from '../flows/directory.js';
import { issueEnrollmentCode } from '../flows/enrollment.js';
import { createLiveEvents } from '../flows/live-events.js';
import { revokeApiKey, revokeDevice } from '../flows/revocation.js';
import type { FlowDeps } from '../flows/ports.js';
import { KeyRing } from '../security/signing-keys.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../store/embedded-postgres.js';
import { openStore } from '../store/pg-store.js';

const USAGE = `Usage: npm run admin -- <command> [options]

Commands:
  create-group     --id ID --name NAME [--time-zone ZONE] [--hours JSON] [--slot-capacity N] [--callback-mode customer_calls|agent_calls]
  create-agent     --username U --name NAME --extension EXT --password P [--groups a,b] [--role agent|supervisor|admin]
  create-customer  --name NAME [--phone +E164] [--time-zone ZONE] [--external-ref REF]
  enrollment-code  --customer ID
  create-api-key   --name NAME --scopes requests:read,requests:write,directory:read,admin
  list-devices     --customer ID                the customer's devices that are not revoked
  revoke-device    <device id>                  revoke a lost or stolen phone, at once (audited)
  list-api-keys                                 every API key (never the key itself)
  revoke-api-key   <key id or name>             revoke a leaked API key, at once (audited)
  verify-audit     recompute the audit log's hash chain and report the first bad entry
  rotate-keys      create a new token signing key now (the old one keeps verifying for the overlap)
  check-routing    [FILE]                       check a routing file offline (default: sip.routingFile);
                                                exit 0 and a summary when valid, 78 (as start-up) and every problem when not
`;

async function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const s = connect({ host, port }, () => {
      s.end();
      ok(true);
    });
    s.on('error', () => ok(false));
  });
}

/** The running service may hold the embedded database: talk to it rather than open it twice. */
async function databaseUrl(config: Config): Promise<{ url: string; embedded: EmbeddedPostgres | null }> {
  if (config.database.url) return { url: config.database.url, embedded: null };
  const { host, port, dataDir } = config.database.embedded;
  if (await portOpen(host, port)) return { url: `postgres://postgres@${host}:${port}/postgres`, embedded: null };
  const embedded = await startEmbeddedPostgres({ dataDir: resolve(dataDir), host, port });
  return { url: embedded.url, embedded };
}

/**
 * `check-routing [FILE]`: the start-up check, offline (no database, no SIP), so an engineer can
 * check a file before deploying it and reloading. Problems are the start-up's `file:line:column`.
 */
async function checkRouting(args: string[], config: () => Config): Promise<number> {
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) {
    process.stderr.write('Usage: npm run admin -- check-routing [FILE]\n');
    return 64;
  }
  const file = args[0] ?? config().sip.routingFile;
  try {
    const { routing, version } = await readRoutingFile(resolve(file), file);
    const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
    const codes = routing.featureCodes.map((f) => f.code).sort();
    process.stdout.write(
      `${file}: OK, version ${version}: ${n(routing.extensions.size, 'number', 'numbers')}, ${n(routing.groups.size, 'group', 'groups')}, ` +
        `${n(codes.length, 'feature code', 'feature codes')}${codes.length ? ` (${codes.join(', ')})` : ''}\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof RoutingConfigError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 78; // EX_CONFIG, as the service exits on the same file at start-up
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(USAGE);
    return command ? 0 : 64;
  }
  if (command === 'check-routing') return checkRouting(rest, () => loadConfig());
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      name: { type: 'string' },
      username: { type: 'string' },
      extension: { type: 'string' },
      password: { type: 'string' },
      groups: { type: 'string' },
      role: { type: 'string' },
      phone: { type: 'string' },
      'time-zone': { type: 'string' },
      'external-ref': { type: 'string' },
      customer: { type: 'string' },
      scopes: { type: 'string' },
      hours: { type: 'string' },
      'slot-capacity': { type: 'string' },
      'callback-mode': { type: 'string' },
    },
  });
  const target = (what: string): string => {
    const v = positionals[0] ?? values.id;
    if (!v) throw new Error(`${command} needs the ${what}: npm run admin -- ${command} <${what}>`);
    return v;
  };
  const need = (k: keyof typeof values): string => {
    const v = values[k];
    if (typeof v !== 'string' || !v) throw new Error(`--${k} is required for ${command}`);
    return v;
  };

  const config = loadConfig();
  const logger = pino({ level: 'warn' });
  const { url, embedded } = await databaseUrl(config);
  const store = await openStore({ url, poolSize: 2, logger });
  const keyRing = await KeyRing.load(store, { rotationDays: config.tokens.keyRotationDays, overlapSeconds: config.tokens.keyOverlapSeconds }, new Date());
  const noScheduler = {
    scheduleExpiry: async () => {},
    scheduleReminder: async () => {},
    scheduleCallback: async () => {},
    cancelForRequest: async () => {},
  };
  const deps: FlowDeps = {
    store,
    config,
    logger,
    keyRing,
    clock: () => new Date(),
    events: createLiveEvents(),
    scheduler: noScheduler,
    notifier: { notifyCustomer: async () => ({ notificationId: null, delivered: [] }) },
  };
  const out = (v: unknown) => process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
  try {
    switch (command) {
      case 'create-group': {
        const s = config.scheduling;
        out(
          await saveGroup(deps, {
            id: need('id'),
            name: need('name'),
            timeZone: values['time-zone'] ?? s.defaultTimeZone,
            businessHours: values.hours ? JSON.parse(values.hours) : s.businessHours,
            slotCapacity: values['slot-capacity'] ? Number(values['slot-capacity']) : null,
            slotMinutes: s.slotMinutes,
            callbackMode: (values['callback-mode'] as 'customer_calls' | 'agent_calls' | undefined) ?? s.callbackMode,
          }),
        );
        return 0;
      }
      case 'create-agent': {
        const agent = await createAgent(deps, {
          username: need('username'),
          name: need('name'),
          extension: need('extension'),
          password: need('password'),
          groups: values.groups ? values.groups.split(',') : [],
          role: (values.role as 'agent' | 'supervisor' | 'admin' | undefined) ?? 'agent',
        });
        out({ id: agent.id, username: agent.username, extension: agent.extension, groups: agent.groups, role: agent.role });
        return 0;
      }
      case 'create-customer':
        out(await createCustomer(deps, { name: need('name'), phone: values.phone ?? null, timeZone: values['time-zone'] ?? null, externalRef: values['external-ref'] ?? null }));
        return 0;
      case 'enrollment-code':
        out(await issueEnrollmentCode(deps, need('customer'), 'cli'));
        return 0;
      case 'create-api-key': {
        const { key, apiKey } = await createApiKey(deps, need('name'), need('scopes').split(','));
        out({ id: apiKey.id, name: apiKey.name, scopes: apiKey.scopes, key, note: 'The key is shown once; store it now.' });
        return 0;
      }
      case 'list-devices':
        out((await store.devices.listForCustomer(need('customer'))).map((d) => ({ id: d.id, label: d.label, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt })));
        return 0;
      case 'revoke-device': {
        const d = await revokeDevice(deps, target('device id'), { actor: 'cli', reason: 'revoked by the operator (admin CLI)' });
        out({ id: d.id, customerId: d.customerId, label: d.label, revokedAt: d.revokedAt });
        return 0;
      }
      case 'list-api-keys':
        out(await store.apiKeys.list());
        return 0;
      case 'revoke-api-key': {
        const k = await revokeApiKey(deps, target('key id or name'), 'cli');
        out({ id: k.id, name: k.name, revokedAt: k.revokedAt });
        return 0;
      }
      case 'verify-audit': {
        const result = await store.audit.verify();
        out(result);
        return result.ok ? 0 : 2;
      }
      case 'rotate-keys':
        await keyRing.rotate(new Date());
        out({ current: keyRing.current().kid });
        return 0;
      default:
        process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
        return 64;
    }
  } finally {
    await store.close();
    await embedded?.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    const message = e instanceof ConfigError ? e.message : isAppError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`${message}\n`);
    process.exit(1);
  },
);
