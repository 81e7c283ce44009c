/**
 * What the flows need from the outside world, as typed ports. The composition root plugs in the
 * real adapters (Agenda scheduler, Web Push/SMS notifier, in-process event bus); the flows never
 * import an adapter.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { CallRequestState } from '../domain/call-request.js';
import type { CallRequest, ChannelName, Customer, NotificationKind, NotificationRecord } from '../domain/model.js';
import type { FailureLimiter } from '../security/failure-limiter.js';
import type { KeyRing } from '../security/signing-keys.js';
import type { Store } from '../store/store.js';

export interface SchedulerPort {
  scheduleExpiry(requestId: string, at: Date): Promise<void>;
  scheduleReminder(requestId: string, at: Date): Promise<void>;
  scheduleCallback(requestId: string, at: Date): Promise<void>;
  cancelForRequest(requestId: string): Promise<void>;
}

export interface NotifyResult {
  notificationId: string | null;
  delivered: ChannelName[];
}

export interface NotifierPort {
  /** Throws AppError('no_reachable_device') when no channel reached the customer. */
  /** `customer` and `history` are optional: what the caller already knows of the request. */
  notifyCustomer(args: {
    request: CallRequest;
    customer?: Customer;
    history?: NotificationRecord[];
    agentName: string;
    kind: NotificationKind;
    now: Date;
  }): Promise<NotifyResult>;
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
  | { type: 'agent.changed'; agentId: string; availability: string; at: string }
  | {
      type: 'callback.dial';
      requestId: string;
      agentId: string;
      customerId: string;
      at: string;
    };

export interface EventsPort {
  publish(event: LiveEvent): void;
  subscribe(listener: (event: LiveEvent) => void): () => void;
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
  /** Failed agent sign-ins per username, against password guessing. */
  loginFailures: FailureLimiter;
}
