/**
 * Who answers a waiting customer (SPEC core flow 2, "service requests wait in queues"): the
 * request's own agent first, then the agent of its group idle longest. An agent is reserved
 * (available -> busy) before their phone rings, so two waiting calls never ring the same agent;
 * an agent who does not answer is released and the call moves on.
 */
import { rankAgents } from '../domain/agent-selection.js';
import type { Agent, CallRequest } from '../domain/model.js';
import { releaseAgent } from './agent-availability.js';
import { callLeftAgent } from './call-screen.js';
import type { FlowDeps } from './ports.js';

/** Agents who may take calls for the request: its group, plus its own agent. */
async function candidatesFor(deps: FlowDeps, request: Pick<CallRequest, 'groupId' | 'agentId'>): Promise<Agent[]> {
  const candidates = request.groupId ? await deps.store.agents.list({ groupId: request.groupId }) : [];
  if (!candidates.some((a) => a.id === request.agentId)) {
    const owner = await deps.store.agents.get(request.agentId);
    if (owner) candidates.push(owner);
  }
  return candidates;
}

/**
 * Reserves the next agent to ring for a waiting call, skipping `exclude` (already tried for
 * this call). `reachable` says whether the agent has a desk phone to ring; agents without one
 * are not reserved. Null when nobody is free.
 */
export async function reserveNextAgent(
  deps: FlowDeps,
  request: Pick<CallRequest, 'id' | 'groupId' | 'agentId'>,
  exclude: ReadonlySet<string>,
  reachable: (agent: Agent) => Promise<boolean>,
): Promise<Agent | null> {
  const ranked = rankAgents((await candidatesFor(deps, request)).filter((a) => !exclude.has(a.id)), request.agentId);
  for (const agent of ranked) {
    if (!(await reachable(agent))) continue;
    if (!(await deps.store.agents.reserve(agent.id))) continue; // taken meanwhile
    deps.events.publish({ type: 'agent.changed', agentId: agent.id, availability: 'busy', at: deps.clock().toISOString() });
    return agent;
  }
  return null;
}

/** Reserves one named agent (a transfer target); false when they are not available. */
export async function reserveAgent(deps: FlowDeps, agentId: string): Promise<boolean> {
  if (!(await deps.store.agents.reserve(agentId))) return false;
  deps.events.publish({ type: 'agent.changed', agentId, availability: 'busy', at: deps.clock().toISOString() });
  return true;
}

/**
 * The agent's phone was rung for the call and did not take it (no answer, busy, unreachable):
 * the agent is free for other calls again and the attempt is on the record.
 */
export async function agentDidNotAnswer(deps: FlowDeps, args: { requestId: string; agentId: string; outcome: string }): Promise<void> {
  callLeftAgent(deps, args); // the console's ringing screen closes
  await releaseAgent(deps, args.agentId);
  const agent = await deps.store.agents.get(args.agentId);
  await deps.store.audit.append({
    actor: 'sip',
    action: 'call.offer',
    subject: `call_request:${args.requestId}`,
    decision: 'info',
    reason: `agent ${agent?.username ?? args.agentId} did not take the call (${args.outcome}); offering it to the next agent`,
    data: { agentId: args.agentId, outcome: args.outcome },
  });
}
