/**
 * The one place that turns agents' live events into what their colleagues' busy lamps show
 * (subscriptions.ts sends it). Every change of an agent's availability, and a customer call
 * ringing, connecting or leaving them, is read back as the agent's line state from the database
 * (the availability there is the truth, whatever order events come in) and handed on; the events
 * of one agent are handled one after the other, so a lamp never goes back to an older state.
 *
 * "Ringing" is known only from the call.ringing event of this process (the database says busy:
 * the agent is reserved for the call); another instance reports that agent as busy instead.
 */
import { lineStateOf, type LineState } from '../domain/event-packages.js';
import type { FlowDeps, LiveEvent } from '../flows/ports.js';

export interface BusyLamps {
  /** The line state of the agent on `extension` now; null when no agent has it. */
  lineOf(extension: string): Promise<LineState | null>;
  stop(): void;
}

export function followAgentLines(deps: Pick<FlowDeps, 'store' | 'events' | 'logger'>, onChange: (extension: string, line: LineState) => Promise<void>): BusyLamps {
  const log = deps.logger.child({ component: 'busy-lamps' });
  const ringing = new Set<string>();
  const queues = new Map<string, Promise<void>>();

  const agentOf = (event: LiveEvent): string | null => {
    switch (event.type) {
      case 'agent.changed':
        if (event.availability !== 'busy') ringing.delete(event.agentId);
        return event.agentId;
      case 'call.ringing':
        ringing.add(event.agentId);
        return event.agentId;
      case 'call.connected':
      case 'call.ended':
        ringing.delete(event.agentId);
        return event.agentId;
      default:
        return null;
    }
  };

  const report = async (agentId: string) => {
    const agent = await deps.store.agents.get(agentId);
    if (!agent?.extension) return;
    await onChange(agent.extension, lineStateOf(agent.availability, ringing.has(agentId)));
  };

  const unsubscribe = deps.events.subscribe((event) => {
    const agentId = agentOf(event);
    if (!agentId) return;
    const next = (queues.get(agentId) ?? Promise.resolve())
      .then(() => report(agentId))
      .catch((e: unknown) => log.warn({ agentId, err: e instanceof Error ? e.message : String(e) }, 'busy lamps not updated'));
    queues.set(agentId, next);
    void next.finally(() => {
      if (queues.get(agentId) === next) queues.delete(agentId);
    });
  });

  return {
    async lineOf(extension) {
      const agent = await deps.store.agents.getByExtension(extension);
      return agent ? lineStateOf(agent.availability, ringing.has(agent.id)) : null;
    },
    stop: unsubscribe,
  };
}
