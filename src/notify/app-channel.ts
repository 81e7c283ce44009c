/**
 * The customer's open app as a notification channel: a notification goes down the app's live
 * event stream (GET /api/v1/app/events) as an `event: notification`, with the same payload a
 * push carries. An app with notifications denied, or one without Web Push at all, is reached
 * this way while it is open.
 *
 * Streams are held by the process the app connected to, and delivery is in-process: this channel
 * reaches only the streams of this process. So that is what counts as reached. Presence is also
 * kept in PostgreSQL (app_streams, refreshed on a heartbeat) so every process can tell that an app
 * is open elsewhere and say so when it cannot reach it; fanning notifications out between
 * processes is not done yet.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import type { DeliveryResult, NotificationChannel } from './channel.js';
import type { NotificationPayload } from './notification-payload.js';

/** A stream is counted as open this long after its last heartbeat (three beats). */
export const APP_STREAM_FRESH_SECONDS = 30;
const HEARTBEAT_MS = 10_000;
/** Rows of a process silent this long are deleted by whoever beats next. */
const FORGET_AFTER_SECONDS = 3_600;

export interface AppChannel extends NotificationChannel<string> {
  readonly name: 'app';
  /**
   * An app's stream opened on this process: notifications for its device go to `write` until the
   * returned function is called (the stream closed).
   */
  attach(device: { id: string; customerId: string }, write: (payload: NotificationPayload) => void): () => void;
  /** The customer's devices with a stream open on this process. */
  connected(customerId: string): Set<string>;
  /** The customer's devices with a fresh stream on any process (from PostgreSQL). */
  openAnywhere(customerId: string): Promise<Array<{ deviceId: string; here: boolean }>>;
  close(): Promise<void>;
}

interface Stream {
  id: string;
  deviceId: string;
  customerId: string;
  write: (payload: NotificationPayload) => void;
}

export function createAppChannel(deps: { store: Store; owner: string; logger: Logger; heartbeatMs?: number }): AppChannel {
  const { store, owner, logger } = deps;
  const streams = new Map<string, Stream>();
  const log = logger.child({ component: 'app-channel' });
  const heartbeat = setInterval(() => {
    if (streams.size === 0) return;
    store.appStreams.touch(owner, FORGET_AFTER_SECONDS).catch((e) => log.warn({ err: String(e) }, 'app stream heartbeat failed'));
  }, deps.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  return {
    name: 'app',
    attach(device, write) {
      const stream: Stream = { id: randomUUID(), deviceId: device.id, customerId: device.customerId, write };
      streams.set(stream.id, stream);
      const opened = store.appStreams
        .open({ id: stream.id, deviceId: device.id, customerId: device.customerId, owner })
        .catch((e) => log.warn({ err: String(e), deviceId: device.id }, 'app stream presence not recorded'));
      return () => {
        streams.delete(stream.id);
        void opened.then(() => store.appStreams.close(stream.id)).catch(() => undefined);
      };
    },
    connected(customerId) {
      const out = new Set<string>();
      for (const s of streams.values()) if (s.customerId === customerId) out.add(s.deviceId);
      return out;
    },
    async openAnywhere(customerId) {
      const here = this.connected(customerId);
      const rows = await store.appStreams.live(customerId, APP_STREAM_FRESH_SECONDS);
      const seen = new Map<string, boolean>();
      for (const r of rows) seen.set(r.deviceId, (seen.get(r.deviceId) ?? false) || r.owner === owner || here.has(r.deviceId));
      return [...seen].map(([deviceId, isHere]) => ({ deviceId, here: isHere }));
    },
    async send(deviceId, payload): Promise<DeliveryResult> {
      let sent = 0;
      for (const s of streams.values()) {
        if (s.deviceId !== deviceId) continue;
        try {
          s.write(payload);
          sent++;
        } catch (e) {
          log.warn({ err: String(e), deviceId }, 'app stream write failed');
        }
      }
      return sent > 0 ? { ok: true, providerId: null } : { ok: false, failure: 'unreachable', detail: 'the app is not open' };
    },
    async close() {
      clearInterval(heartbeat);
      const ids = [...streams.keys()];
      streams.clear();
      await Promise.all(ids.map((id) => store.appStreams.close(id).catch(() => undefined)));
    },
  };
}
