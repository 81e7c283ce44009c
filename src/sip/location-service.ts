/**
 * Where an extension can be reached (RFC 3261 §10, the location service the registrar fills):
 * the live desk phone bindings of an extension, newest first. Call flows (extension calls,
 * customer calls, callbacks) ask it where to send an INVITE.
 */
import type { Registration, Store } from '../store/store.js';

export interface LocationService {
  /** Unexpired bindings of the extension, newest first. */
  bindings(extension: string): Promise<Registration[]>;
  isRegistered(extension: string): Promise<boolean>;
}

export function createLocationService(store: Pick<Store, 'registrations'>, clock: () => Date): LocationService {
  return {
    bindings: (extension) => store.registrations.list(extension, clock()),
    async isRegistered(extension) {
      return (await store.registrations.list(extension, clock())).length > 0;
    },
  };
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
