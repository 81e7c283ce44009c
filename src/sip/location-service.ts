/**
 * Where an extension can be reached (RFC 3261 §10, the location service the registrar fills):
 * the live desk phone bindings of an extension, newest first. Call flows (extension calls,
 * customer calls, callbacks) ask it where to send an INVITE.
 */
import type { Logger } from 'pino';
import { followPhones } from '../flows/agent-availability.js';
import type { FlowDeps } from '../flows/ports.js';
import type { Registration, Store } from '../store/store.js';
import type { RingTarget } from './ring-targets.js';

export interface LocationService {
  /** Live bindings of the extension (unexpired, not marked unreachable), newest first. */
  bindings(extension: string): Promise<Registration[]>;
  isRegistered(extension: string): Promise<boolean>;
}

export function createLocationService(store: Pick<Store, 'registrations'>, clock: () => Date): LocationService {
  const live = async (extension: string) => (await store.registrations.list(extension, clock())).filter((b) => !b.unreachableSince);
  return {
    bindings: live,
    async isRegistered(extension) {
      return (await live(extension)).length > 0;
    },
  };
}

/**
 * Phones a request could not reach (ring-targets.ts `unreachable`): each binding is marked at
 * once, so it is not rung again until the phone registers anew; the log warns once per binding;
 * the agent's availability follows (offline when it was their last live phone) and the console
 * shows the phone as unreachable.
 */
export async function markPhonesUnreachable(deps: FlowDeps, logger: Logger, targets: RingTarget[]): Promise<void> {
  for (const t of targets) {
    if (!t.binding) continue;
    const { extension, contact } = t.binding;
    try {
      if (!(await deps.store.registrations.markUnreachable(extension, contact, deps.clock()))) continue;
      logger.warn({ extension, contact, via: t.proxy ?? t.uri }, 'desk phone unreachable: not rung again until it registers again');
      await deps.store.audit.append({
        actor: 'sip',
        action: 'sip.unreachable',
        subject: `extension:${extension}`,
        decision: 'info',
        reason: 'a request to the desk phone could not be delivered',
        data: { contact, via: t.proxy ?? t.uri },
      });
      await followPhones(deps, extension, 'desk phone unreachable');
    } catch (e) {
      logger.error({ extension, err: e instanceof Error ? e.message : String(e) }, 'could not mark the desk phone unreachable');
    }
  }
}

/**
 * Where to send an INVITE for a binding. The Contact URI is the Request-URI; when the phone
 * registered over a connection (TCP, WebSocket) or from another address than its Contact says
 * (NAT), the INVITE goes via the address the REGISTER came from, like RFC 5626's flow reuse.
 */
export function routeToBinding(reg: Registration): { uri: string; proxy: string | null } {
  const m = /^([a-z]+)\/(.+):(\d+)$/i.exec(reg.source);
  if (!m) return { uri: reg.contact, proxy: null };
  const [, transport, address, port] = m as unknown as [string, string, string, string];
  const contactHostPort = /^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;?>]+)(?::(\d+))?/i.exec(reg.contact);
  const sameAddress = contactHostPort && contactHostPort[1] === address && (contactHostPort[2] ?? '5060') === port;
  if (transport.toLowerCase() === 'udp' && sameAddress) return { uri: reg.contact, proxy: null };
  return { uri: reg.contact, proxy: `sip:${address}:${port};transport=${transport.toLowerCase()}` };
}
