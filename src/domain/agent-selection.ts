/**
 * Who takes a call or a callback (SPEC "queues"): the owning agent when free, otherwise the
 * agent of the group who has been idle longest. Order of waiting work is by the original request
 * time, so a callback keeps its place.
 */
import type { Agent } from './model.js';

export function pickAgent(candidates: readonly Agent[], preferredAgentId: string | null): Agent | null {
  const free = candidates.filter((a) => a.availability === 'available');
  const preferred = preferredAgentId ? free.find((a) => a.id === preferredAgentId) : undefined;
  if (preferred) return preferred;
  let best: Agent | null = null;
  for (const a of free) {
    if (!best || idleKey(a) < idleKey(best)) best = a;
  }
  return best;
}

/** Candidates in the order they should be tried: owner first, then longest idle. */
export function rankAgents(candidates: readonly Agent[], preferredAgentId: string | null): Agent[] {
  return candidates
    .filter((a) => a.availability === 'available')
    .sort((a, b) => {
      if (a.id === preferredAgentId) return -1;
      if (b.id === preferredAgentId) return 1;
      return idleKey(a) - idleKey(b);
    });
}

function idleKey(a: Agent): number {
  // Agents without an idle stamp have been free "forever" in routing terms.
  return a.idleSince ? a.idleSince.getTime() : 0;
}

export function queueOrder<T extends { requestedAt: Date; id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime() || a.id.localeCompare(b.id));
}
