/**
 * Agent availability follows the desk phone (SPEC "agents sit at SIP desk phones"): the first
 * registered binding of an agent's extension makes an offline agent available; when the last
 * binding is removed or runs out, the agent goes offline and gets no more calls.
 *
 * Only 'offline' changes on registration: an agent who chose 'away', or is 'busy' on a call,
 * keeps that state when their phone re-registers.
 */
import type { Agent } from '../domain/model.js';
import { followPhones, releaseAgent } from './agent-availability.js';
import type { FlowDeps } from './ports.js';

type Deps = Pick<FlowDeps, 'store' | 'clock' | 'events' | 'logger' | 'config'>;

/** The extension now has at least one binding where it had none. */
export async function deskPhoneRegistered(deps: Deps, extension: string): Promise<Agent | null> {
  return followPhones(deps, extension, 'desk phone registered');
}

/** The extension's last binding is gone (de-registered, expired or unreachable). */
export async function deskPhoneUnregistered(deps: Deps, extension: string): Promise<Agent | null> {
  return followPhones(deps, extension, 'desk phone unregistered');
}

/**
 * Housekeeping: drops bindings whose expiry passed and takes offline the agents left with none.
 * Returns how many bindings were removed.
 */
export async function expireDeskPhoneRegistrations(deps: Deps): Promise<number> {
  const now = deps.clock();
  // Extensions with any stored row (expires after the epoch) minus those still live = lapsed.
  const withRows = await deps.store.registrations.registeredExtensions(new Date(0));
  const live = new Set(await deps.store.registrations.registeredExtensions(now));
  const purged = await deps.store.registrations.purgeExpired(now);
  for (const extension of withRows) {
    if (live.has(extension)) continue;
    // It may have registered again since: the transition looks at the bindings itself.
    await deskPhoneUnregistered(deps, extension);
  }
  return purged;
}

/**
 * A call between desk phones was answered: agents who were available become busy so no customer
 * call is offered to them meanwhile. Returns the agents it changed (hand them to
 * deskPhoneCallEnded).
 */
export async function deskPhoneCallStarted(deps: Deps, agentIds: string[]): Promise<string[]> {
  const changed: string[] = [];
  for (const id of agentIds) {
    if (await deps.store.agents.reserve(id)) {
      changed.push(id);
      deps.events.publish({ type: 'agent.changed', agentId: id, availability: 'busy', at: deps.clock().toISOString() });
    }
  }
  return changed;
}

/** The call between desk phones ended: the agents it made busy are available again. */
export async function deskPhoneCallEnded(deps: Deps, agentIds: string[]): Promise<void> {
  // Compare-and-set on busy: someone else may have changed it meanwhile (went offline).
  for (const id of agentIds) await releaseAgent(deps, id);
}
