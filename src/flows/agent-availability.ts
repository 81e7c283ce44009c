/**
 * The two transitions of an agent's availability that the SIP side drives, each one guarded
 * statement in the store (never read-then-write), so no interleaving of unregister, expiry,
 * unreachable phone, call end and transfer leaves an agent available without a live phone:
 *   - followPhones: the extension's bindings changed → available with a live binding (from
 *     offline only), offline without one;
 *   - releaseAgent: a busy agent's call or ringing is over → available, or offline when their
 *     phone went meanwhile (with SIP on; an HTTP-only instance has no phones to look at).
 */
import type { Agent } from '../domain/model.js';
import type { FlowDeps } from './ports.js';

type Deps = Pick<FlowDeps, 'store' | 'clock' | 'events' | 'logger' | 'config'>;

function announce(deps: Deps, agent: Agent, phone?: 'registered' | 'unreachable' | 'none'): void {
  deps.events.publish({ type: 'agent.changed', agentId: agent.id, availability: agent.availability, at: deps.clock().toISOString(), ...(phone ? { phone } : {}) });
}

/** The extension's bindings changed (REGISTER, expiry, unreachable): availability follows them. */
export async function followPhones(deps: Deps, extension: string, why: string): Promise<Agent | null> {
  const after = await deps.store.agents.followPhones(extension, deps.clock());
  if (!after) return null;
  const phone = (await deps.store.registrations.phoneStates(deps.clock())).get(extension) ?? 'none';
  announce(deps, after, phone);
  const reason = after.availability === 'available' ? `${why}: agent available` : `${why}: agent offline`;
  await deps.store.audit.append({
    actor: 'sip',
    action: 'agent.availability',
    subject: `agent:${after.id}`,
    decision: 'info',
    reason,
    data: { extension: after.extension, availability: after.availability },
  });
  deps.logger.info({ agentId: after.id, extension: after.extension, availability: after.availability }, reason);
  return after;
}

/** A busy agent is free again (call ended, not answered, transferred away, request expired). */
export async function releaseAgent(deps: Deps, agentId: string): Promise<Agent | null> {
  const after = await deps.store.agents.release(agentId, deps.clock(), deps.config.sip.enabled);
  if (after) announce(deps, after);
  return after;
}
