/**
 * What the flows need from the outside world, as typed ports. The composition root plugs in the
 * real adapters (Agenda scheduler, Web Push/SMS notifier, the live event bus); the flows never
 * import an adapter.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { CallRequestState } from '../domain/call-request.js';
import type { Agent, CallRequest, ChannelName, Customer, Device, NotificationKind, NotificationRecord } from '../domain/model.js';
import type { KeyRing } from '../security/signing-keys.js';
import type { Store } from '../store/store.js';

export interface SchedulerPort {
  scheduleExpiry(requestId: string, at: Date): Promise<void>;
  scheduleReminder(requestId: string, at: Date): Promise<void>;
  scheduleCallback(requestId: string, at: Date): Promise<void>;
  cancelForRequest(requestId: string): Promise<void>;
  /** A console transfer as a durable job (console-transfer.ts); absent where none can be scheduled. */
  scheduleTransfer?(data: Record<string, unknown>): Promise<string>;
}

export interface NotifyResult {
  notificationId: string | null;
  delivered: ChannelName[];
}

/** `customer`, `devices` and `history` are optional: what the caller already knows of the request. */
export interface NotifyCustomerArgs {
  request: CallRequest;
  /** The request's customer when the caller has just read it (saves reading it again). */
  customer?: Customer;
  /** The customer's devices that are not revoked, read together with `customer`. */
  devices?: Device[];
  /** The request's earlier notifications when the caller knows them (a new request has none). */
  history?: NotificationRecord[];
  agentName: string;
  kind: NotificationKind;
  now: Date;
}

export interface NotifierPort {
  /** Throws AppError('no_reachable_device') when no channel reached the customer. */
  notifyCustomer(args: NotifyCustomerArgs): Promise<NotifyResult>;
}

/** Live events for consoles (and for the SIP layer: `callback.dial`). */
export type LiveEvent =
  | {
      type: 'request.changed';
      requestId: string;
      agentId: string;
      customerId: string;
      state: CallRequestState;
      reason: string;
      at: string;
    }
  | { type: 'agent.changed'; agentId: string; availability: string; at: string; phone?: 'registered' | 'unreachable' | 'none' }
  | {
      type: 'callback.dial';
      requestId: string;
      agentId: string;
      customerId: string;
      at: string;
    }
  // The console's call screen (call-screen.ts): a customer call rings, connects to or leaves an agent.
  | ({ type: 'call.ringing' } & CallOnScreen)
  | ({ type: 'call.connected' } & CallOnScreen)
  | { type: 'call.ended'; requestId: string; agentId: string; outcome: string; at: string }
  // A transfer asked for in the console (console-transfer.ts); agentId is the agent it moves the call from.
  | {
      type: 'transfer.changed';
      transferId: string;
      requestId: string;
      agentId: string;
      toAgentId: string | null;
      toGroup: string | null;
      state: 'requested' | 'ringing' | 'completed' | 'failed';
      reason: string;
      at: string;
    };

/** Who is on a call and how they were verified; never the session id (it vouches for the customer). */
export interface CallOnScreen {
  requestId: string;
  agentId: string;
  customerId: string;
  customerName: string;
  reference: string;
  reason: string;
  /** null: not verified on this call (an agent-dialled callback). via 'session': a transfer. */
  verification: { method: string; at: string; via: 'token' | 'session' } | null;
  at: string;
}

/** A connected customer call as the SIP side holds it, for a transfer asked for in the console. */
export interface LiveCall {
  requestId: string;
  /** The agent on the call now; null while nobody is. */
  agentId: string | null;
  transferring: boolean;
}

/** 'failed': an unexpected error; the call went back to the first agent, or ended. */
export type CallTransferOutcome = 'completed' | 'refused' | 'busy' | 'not_answered' | 'caller_gone' | 'failed';

/** The SIP side's part of a console transfer (src/calls/console-transfer.ts). */
export interface CallTransferPort {
  /** The call of this session when this instance holds it; null otherwise. */
  find(sessionId: string): LiveCall | null;
  /** Whether the agent has a registered desk phone to ring. */
  reachable(agent: Agent): Promise<boolean>;
  /** Moves the call to toAgent (rings them, re-bridges on answer); resolves with how it went. */
  transfer(sessionId: string, toAgent: Agent): Promise<CallTransferOutcome>;
}

export interface PublishOptions {
  /** A request.changed event: the request's version after the move (keeps its changes in order). */
  requestVersion?: number;
}

/** An event of the cluster's live event log: `id` is its place in the log (the SSE `id:`). */
export interface StreamedEvent {
  id: number;
  event: LiveEvent;
}

export interface EventsPort {
  /** Tells this instance's listeners at once and, through the shared log, every instance's streams. */
  publish(event: LiveEvent, options?: PublishOptions): void;
  /** This instance's own events, at once (the SIP side, metrics). */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /**
   * Every instance's events in log order, for the streams: those after `after` (a Last-Event-ID)
   * first, then each new one; null: from now. Absent where there is no shared log.
   */
  follow?(after: number | null, listener: (event: StreamedEvent) => void): () => void;
}

/**
 * Commands to the instance that holds a live call (its owner, on the call record): delivered at
 * once, answered, or failed with `unavailable` when the owner does not answer in time.
 */
export interface CallCommandsPort {
  /**
   * Has the owner start a console transfer (the `call.transfer` data); resolves once it has taken
   * it (progress follows as `transfer.changed`). `conflict` when the owner no longer holds the call.
   */
  transfer(owner: string, data: Record<string, unknown>): Promise<void>;
}

export interface FlowDeps {
  store: Store;
  config: Config;
  clock: () => Date;
  logger: Logger;
  scheduler: SchedulerPort;
  notifier: NotifierPort;
  events: EventsPort;
  keyRing: KeyRing;
  /** Commands to the instance holding a call; absent where there is no cluster bus (the admin CLI). */
  commands?: CallCommandsPort;
}
