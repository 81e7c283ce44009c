/**
 * Liveness of calls is checked, not assumed (README "When a component dies"). One pass runs at
 * start-up, on every (re)connection to FreeSWITCH or drachtio-server, and every
 * `calls.reconcileSeconds`:
 *
 *   - this process's heartbeat (service_instances), which tells the others it is alive;
 *   - this process's live calls against FreeSWITCH: a call whose customer channel FreeSWITCH no
 *     longer has, or any call while the event socket is gone, ends as `media_lost`;
 *   - calls held by processes that are gone (the same instance name restarted, or silent for
 *     `calls.instanceDeadSeconds`): their FreeSWITCH channels are killed (uuid_kill), their
 *     dialogs get BYE through drachtio-server, and their records close as `service_restarted`
 *     or `instance_lost` (flows/call-liveness.ts revokes the session and ends the request);
 *   - the backstops: sessions whose calls all ended are revoked, busy agents without a call freed.
 *
 * Losing drachtio-server ends every live call at once as `signalling_lost` (no BYE can be sent
 * or received without it): their channels are released, records closed, sessions revoked; once
 * drachtio-server is back, each of their dialogs gets a BYE in case it survived the outage (written
 * from the dialog's kept state when a restarted drachtio-server no longer knows the dialog).
 * A BYE for a dialog no live call holds (one a previous process held) is answered 200 and closes
 * that call; otherwise 481. drachtio-server 0.9.10 never hands this process such a BYE, though: it
 * routes an in-dialog request only to the connection that made the dialog (its fallback to another
 * connection of the same application needs an application name no client can set) and answers
 * 481 itself when that connection is gone; the second pass closes the call instead.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LostCallCause } from '../domain/call-request.js';
import type { CallRecord, SipDialogState } from '../domain/model.js';
import type { ServiceInstance } from '../store/store.js';
import { closeLostCall, describeLostCall, endStuckSetups, sweepCallLeftovers } from '../flows/call-liveness.js';
import type { FlowDeps } from '../flows/ports.js';
import type { FreeswitchConnection } from '../media/freeswitch-connection.js';
import type { ActiveCalls, CallSetupHold } from './customer-call-state.js';
import { byeFromState } from '../sip/dialog-state.js';
import { sendResponse, type SipRequest, type SipResponse } from '../sip/sip-message.js';
import type { SipServer } from '../sip/sip-server.js';

export interface CallReconciler {
  /** Runs a pass now (or right after the one running); resolves when it is done. */
  runNow(why: string): Promise<void>;
  /** True while the last passes found calls left behind (readiness shows it). */
  degraded(): boolean;
  stop(): Promise<void>;
}

export interface CallReconcilerOptions {
  deps: FlowDeps;
  /** This process: its id (a new one each start) and its instance name (stable across restarts). */
  instance: { id: string; name: string };
  sip: SipServer;
  media: FreeswitchConnection;
  calls: ActiveCalls;
  logger: Logger;
  registry?: Registry;
}

type InDialogRequest = {
  request(uri: string, opts: { method: string; stackDialogId?: string; stackTxnId?: string; headers: Record<string, string> }): Promise<unknown>;
};

/** Longest wait for drachtio-server or FreeSWITCH to answer one hang-up. */
const HANG_UP_WAIT_MS = 2000;
/** A BYE written from a dialog's state waits for the peer's answer (UDP retransmits at 0.5, 1, 2 s). */
const BYE_FROM_STATE_WAIT_MS = 4000;
/** A call is checked against FreeSWITCH only once it is this old (its channel is surely set up). */
const MEDIA_CHECK_AFTER_MS = 3000;
/** A process that just started waits this long for both servers before closing dead calls without them. */
const CONNECT_GRACE_MS = 30_000;

export function startCallReconciler(opts: CallReconcilerOptions): CallReconciler {
  const { deps, instance, sip, media, calls } = opts;
  const cfg = deps.config.calls;
  const log = opts.logger.child({ component: 'call-reconciler' });
  const startedAt = Date.now();
  let stopped = false;
  let lastFoundAt = 0;
  /** Dialogs of calls ended while drachtio-server was unreachable: BYE once it is back. */
  const byeWhenBack = new Map<string, SipDialogState | undefined>();

  const closed = new Counter({
    name: 'knock_calls_reconciled_total',
    help: 'Calls ended because a component under them was lost, by cause',
    labelNames: ['cause'] as const,
    registers: opts.registry ? [opts.registry] : [],
  });
  // Every cause is a series from the start, so a dashboard sees 0 rather than no data.
  for (const cause of ['media_lost', 'signalling_lost', 'service_restarted', 'instance_lost'] as const) closed.inc({ cause }, 0);
  new Gauge({
    name: 'knock_calls_open',
    help: 'Calls this instance holds, by state',
    labelNames: ['state'] as const,
    registers: opts.registry ? [opts.registry] : [],
    collect() {
      let connected = 0;
      let setup = 0;
      for (const c of calls.all()) {
        if (c.connected) connected++;
        else setup++;
      }
      this.set({ state: 'connected' }, connected);
      this.set({ state: 'setup' }, setup + calls.setups().length);
    },
  });

  const found = (cause: LostCallCause, n = 1) => {
    if (n <= 0) return;
    closed.inc({ cause }, n);
    lastFoundAt = Date.now();
  };

  /**
   * Ends this process's live calls after a component under them was lost; with `setups`, also the
   * calls it is still setting up outside a CustomerCall (an agent on hold for a dialled callback).
   */
  const endLiveCalls = async (cause: LostCallCause, which = calls.all(), setups: CallSetupHold[] = []) => {
    if (which.length + setups.length === 0) return;
    found(cause, which.length + setups.length);
    log.warn({ calls: which.length, setups: setups.length, cause }, `ending live calls: ${describeLostCall(cause)}`);
    for (const s of setups) s.lose(cause);
    await Promise.all(which.map((c) => c.end(cause, cause === 'media_lost' ? 'media' : 'signalling')));
  };

  const within = <T>(work: Promise<T>, ms = HANG_UP_WAIT_MS): Promise<T | undefined> =>
    Promise.race([work, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]).catch(() => undefined);

  /**
   * BYE inside a dialog drachtio-server holds, by its id: drachtio-server writes its Request-URI
   * and headers from the dialog (the URI given here is a placeholder, as drachtio-srf's own
   * in-dialog requests use). A restarted drachtio-server has forgotten the dialog and refuses
   * that; with the dialog's state kept, the BYE is then written from it (dialog-state.ts).
   */
  const bye = (dialogId: string, why: string, state?: SipDialogState) =>
    within(
      (sip.srf as unknown as InDialogRequest)
        .request('sip:placeholder', { method: 'BYE', stackDialogId: dialogId, headers: { Reason: `SIP;cause=200;text="${why}"` } })
        .catch(async (e: unknown) => {
          const err = e instanceof Error ? e.message : String(e);
          if (!state) {
            log.info({ dialogId, err }, 'BYE for a lost call not sent (drachtio-server no longer has the dialog)');
            return;
          }
          const status = await byeFromState(sip.srf, state, why).catch((e2: unknown) => (e2 instanceof Error ? e2.message : String(e2)));
          log.info({ dialogId, status }, 'BYE for a lost call written from its stored dialog state (drachtio-server no longer has the dialog)');
        }),
      BYE_FROM_STATE_WAIT_MS,
    );

  /**
   * CANCEL of an INVITE a dead process sent that may still ring, by its drachtio-server
   * transaction. When drachtio-server no longer has the transaction, the phone may have answered
   * after the process died (drachtio-server discards that answer: nobody ACKs it, and the phone
   * would hang up only after 32 s, RFC 3261 §13.3.1.4): the dialog its 180 made, kept with the
   * record, gets a BYE, which ends the answered call at once (or the ring, or gets 481 from a
   * phone that is done).
   */
  const cancelInvite = (stackTxnId: string, early?: SipDialogState, why = 'Call ended') =>
    within(
      (sip.srf as unknown as InDialogRequest)
        .request('sip:placeholder', { method: 'CANCEL', stackTxnId, headers: {} })
        .catch(async (e: unknown) => {
          log.debug({ stackTxnId, err: e instanceof Error ? e.message : String(e) }, 'CANCEL not sent (the INVITE was already answered or ended)');
          if (!early) return;
          const status = await byeFromState(sip.srf, early, why).catch((e2: unknown) => (e2 instanceof Error ? e2.message : String(e2)));
          log.info({ stackTxnId, status }, 'BYE to a phone rung by a process that is gone (its answer may have gone unacknowledged)');
        }),
      BYE_FROM_STATE_WAIT_MS,
    );

  const killChannel = async (uuid: string) => {
    if (!media.isConnected()) return;
    await within(media.mediaServer().api(`uuid_kill ${uuid} NORMAL_CLEARING`));
  };

  /** Hangs up what is left of a dead process's call, then closes its record. */
  const closeDeadCall = async (record: CallRecord, cause: LostCallCause, except?: string) => {
    await Promise.all([
      ...(record.mediaChannels ?? []).map(killChannel),
      ...(sip.isConnected()
        ? (record.sipDialogs ?? []).filter((d) => d !== except).map((d) => bye(d, describeLostCall(cause), record.sipDialogStates?.find((st) => st.id === d)))
        : []),
      ...(sip.isConnected() ? (record.sipInvites ?? []).map((t) => cancelInvite(t, record.sipDialogStates?.find((st) => st.id === t), describeLostCall(cause))) : []),
    ]);
    if (await closeLostCall(deps, record, cause)) found(cause);
  };

  /**
   * Live calls whose customer channel FreeSWITCH no longer has. Asked per channel (uuid_exists
   * looks the session up in FreeSWITCH's core): `show channels` reads a table FreeSWITCH fills in
   * the background, where a channel just created may not be listed yet.
   */
  const checkMedia = async () => {
    if (calls.size === 0) return;
    if (!media.isConnected()) return endLiveCalls('media_lost', calls.all(), calls.setups());
    const ms = media.mediaServer();
    const settled = calls.all().filter((c) => !c.isEnded && Date.now() - c.startedAt >= MEDIA_CHECK_AFTER_MS);
    const answers = await Promise.all(settled.map((c) => within(ms.api(`uuid_exists ${c.customer.endpoint.uuid}`))));
    // Only a plain "false" proves the channel gone; no answer (a busy FreeSWITCH) proves nothing.
    const gone = settled.filter((c, i) => answers[i]?.trim() === 'false' && !c.isEnded);
    await endLiveCalls('media_lost', gone);
  };

  const takeOverDead = async (dead: ServiceInstance[]) => {
    const reachable = sip.isConnected() && media.isConnected();
    // Just started: the servers may not be connected yet; hanging up needs them.
    if (!reachable && Date.now() - startedAt < CONNECT_GRACE_MS) return false;
    const inUse = new Set((await deps.store.instances.alive(cfg.instanceDeadSeconds)).filter((i) => !dead.some((d) => d.id === i.id)).map((i) => i.mediaAddress));
    inUse.add(mediaAddress());
    for (const d of dead) {
      const cause: LostCallCause = d.name === instance.name ? 'service_restarted' : 'instance_lost';
      const records = await deps.store.callRecords.listOpen([d.id]);
      if (records.length) log.warn({ instance: d.name, process: d.id, calls: records.length, cause }, `closing calls: ${describeLostCall(cause)}`);
      for (const r of records) await closeDeadCall(r, cause);
      // Channels whose record could not be written, or made before it was (a backstop): every
      // channel FreeSWITCH made for that process carries its address. Not when a live process
      // shares the address (a fixed outbound port reused).
      if (d.mediaAddress && media.isConnected()) {
        if (!inUse.has(d.mediaAddress)) {
          await within(media.mediaServer().api(`hupall NORMAL_CLEARING sip_h_X-esl-outbound ${d.mediaAddress}`));
          log.info({ process: d.id, mediaAddress: d.mediaAddress }, 'hung up the channels FreeSWITCH still held for a process that is gone');
        } else if (d.mediaAddress === mediaAddress()) {
          await killOlderChannelsAt(d.mediaAddress, d.id);
        }
      }
    }
    return true;
  };

  /**
   * This process restarted on the same fixed outbound address as the dead one: its channels are
   * those FreeSWITCH made for that address before this process started.
   */
  const killOlderChannelsAt = async (address: string, process: string) => {
    const ms = media.mediaServer();
    const body = await within(ms.api('show channels as json'));
    let rows: Array<{ uuid: string; created_epoch?: string }> = [];
    try {
      rows = (JSON.parse(body ?? '{}') as { rows?: typeof rows }).rows ?? [];
    } catch {
      return;
    }
    const before = Math.floor(startedAt / 1000);
    let killed = 0;
    for (const r of rows.filter((x) => Number(x.created_epoch ?? Infinity) <= before)) {
      if ((await within(ms.api(`uuid_getvar ${r.uuid} sip_h_X-esl-outbound`)))?.trim() !== address) continue;
      await killChannel(r.uuid);
      killed++;
    }
    if (killed) log.info({ process, mediaAddress: address, channels: killed }, 'hung up the channels FreeSWITCH still held for a process that is gone');
  };

  /** This process's X-esl-outbound address, once connected to FreeSWITCH. */
  const mediaAddress = (): string | null => {
    if (!media.isConnected()) return null;
    const ms = media.mediaServer() as unknown as { advertisedAddress?: string; advertisedPort?: number };
    return ms.advertisedAddress && ms.advertisedPort ? `${ms.advertisedAddress}:${ms.advertisedPort}` : null;
  };

  /** Another process of the same name still beating after this one started is a twin, not a past self. */
  let firstBeat: Date | null = null;
  const restartedBefore = () => (Date.now() - startedAt > (cfg.reconcileSeconds + 1) * 1000 ? firstBeat : null);
  // drachtio-server hands a process the BYE of a dialog only when that dialog's process is gone,
  // so here a same-name process silent since this one started is taken as its past self at once.
  const ownerAlive = async (owner: string) => {
    const dead = await deps.store.instances.dead(instance, cfg.instanceDeadSeconds, firstBeat);
    return !dead.some((d) => d.id === owner) && (await deps.store.instances.isAlive(owner, cfg.instanceDeadSeconds));
  };

  const pass = async () => {
    const now = deps.clock();
    const me = await deps.store.instances.beat(instance.id, instance.name, mediaAddress());
    firstBeat ??= me.startedAt;
    await checkMedia();
    const dead = await deps.store.instances.dead(instance, cfg.instanceDeadSeconds, restartedBefore());
    const tookOver = dead.length ? await takeOverDead(dead) : true;
    const left = await sweepCallLeftovers(deps, {
      deadOwners: dead.map((d) => d.id),
      staleBusyBefore: new Date(now.getTime() - cfg.busyWithoutCallSeconds * 1000),
    });
    if (left.sessions + left.agents > 0) lastFoundAt = Date.now();
    if ((await endStuckSetups(deps)) > 0) lastFoundAt = Date.now();
    // Forgotten only once its calls are closed and the agents it made busy are free.
    if (tookOver) for (const d of dead) await deps.store.instances.remove(d.id);
  };

  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const runNow = (why: string): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      // One pass at a time; requests during a pass share the one after it.
      queued ??= running.then(() => {
        queued = null;
        return runNow(why);
      });
      return queued;
    }
    running = pass()
      .catch((e: unknown) => log.warn({ why, err: e instanceof Error ? e.message : String(e) }, 'call reconcile pass failed; next pass retries'))
      .finally(() => {
        running = null;
      });
    return running;
  };

  sip.onConnectionChange((up) => {
    if (!up) {
      const live = calls.all();
      const setups = calls.setups();
      for (const c of live) {
        const legs = c.legIds();
        for (const d of legs.sipDialogs) byeWhenBack.set(d, legs.sipDialogStates?.find((st) => st.id === d));
      }
      for (const s of setups) for (const d of s.sipDialogs()) byeWhenBack.set(d, undefined);
      void endLiveCalls('signalling_lost', live, setups);
      return;
    }
    const pending = [...byeWhenBack];
    byeWhenBack.clear();
    void Promise.all(pending.map(([d, state]) => bye(d, describeLostCall('signalling_lost'), state))).then(() => runNow('drachtio-server connected'));
  });
  media.onChange((up) => {
    if (!up) void endLiveCalls('media_lost', calls.all(), calls.setups());
    else void runNow('FreeSWITCH connected');
  });

  sip.onStrayBye(async (req: SipRequest, res: SipResponse) => {
    const dialogId = (req as unknown as { stackDialogId?: string }).stackDialogId ?? '';
    const record = dialogId ? await deps.store.callRecords.findOpenByDialog(dialogId) : null;
    if (!record?.owner || record.owner === instance.id || (await ownerAlive(record.owner))) {
      sendResponse(res, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    // A call a process that is gone held: the party hanging up ends it for everyone.
    sendResponse(res, 200, 'OK');
    await closeDeadCall(record, 'service_restarted', dialogId);
  });

  const timer = setInterval(() => void runNow('timer'), cfg.reconcileSeconds * 1000);
  timer.unref();
  void runNow('start-up');

  return {
    runNow,
    degraded: () => Date.now() - lastFoundAt < 2 * cfg.reconcileSeconds * 1000,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      await queued;
      // A process that stops cleanly says so: no survivor has to wait for its heartbeat to age.
      await deps.store.instances.remove(instance.id).catch(() => undefined);
    },
  };
}
