/**
 * What desk phones send besides calls, against real drachtio-server and FreeSWITCH with sipp as
 * the phones (and baresip, a real softphone, where installed): the message lamp
 * (message-summary), busy-lamp keys (dialog and presence on a colleague's extension, following a
 * verified customer call), expiry, and the answers to what the server does not take (489 Bad
 * Event, 405 with Allow, OPTIONS) — never 503.
 */
import assert from 'node:assert/strict';
import { baresipAvailable, startBaresip, type Baresip } from '../support/baresip.js';
import { AGENTS, allReceived, received, useCallCenter } from '../support/call-center.js';
import { freePort } from '../support/drachtio-server.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { runSipp, startSippUas, type SippResult } from '../support/sipp.js';
import { callerArgs, DESK_PHONE_PASSWORD, verifiedCall } from '../support/verified-customer.js';
import { waitFor } from '../support/wait-for.js';

/** The `<state>` of each dialog-info NOTIFY the phone received, with the document's version. */
function dialogStates(r: SippResult): Array<{ state: string; version: number }> {
  return allReceived(r, /^NOTIFY /).map((m) => ({
    state: /<state>([a-z]+)<\/state>/.exec(m)?.[1] ?? '?',
    version: Number(/version="(\d+)"/.exec(m)?.[1] ?? NaN),
  }));
}

describe('desk phone subscriptions and other methods (drachtio-server + FreeSWITCH + sipp)', function () {
  this.timeout(120_000);
  const center = useCallCenter({ agents: [AGENTS.anna, AGENTS.ben] });

  const phone = (scenario: string, vars: Record<string, string>, more: { service?: string; credentials?: boolean } = {}) =>
    runSipp({
      scenario,
      remote: center().env.remote,
      timeoutMs: 15_000,
      vars,
      ...(more.service ? { service: more.service } : {}),
      // The digest uri is the Request-URI (the watched extension at the server).
      extraArgs: more.credentials === false ? [] : ['-au', vars.user ?? '1002', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `${vars.target ?? vars.user}@${center().env.remote}`],
    });
  const subscriptionsOf = (subscriber: string) => center().deps.store.sipSubscriptions.list({ subscriber }, new Date());

  it('lights no message lamp: 401, then 200 with Expires cut to the maximum, NOTIFY "Messages-Waiting: no"; refresh; unsubscribe ends it', async () => {
    const r = await phone('subscribe-message-summary', { user: '1002', expires: '86400', refresh_expires: '120' });
    const [granted, refreshed] = allReceived(r, /^SIP\/2\.0 200/);
    assert.match(granted!, /^Expires: 3600\s*$/im, 'a day asked for, sip.subscriptions.maxExpires granted');
    assert.match(refreshed!, /^Expires: 120\s*$/im);
    const first = received(r, /^NOTIFY /);
    assert.match(first, /^Content-Type: application\/simple-message-summary/im);
    assert.match(first, /^Message-Account: sip:1002@knock\.localhost/im);
    const notifies = allReceived(r, /^NOTIFY /);
    assert.equal(notifies.length, 3, 'one NOTIFY each for the subscription, the refresh and the unsubscribe');
    assert.match(notifies[1]!, /^Subscription-State: active;expires=1[12]\d/im);
    assert.match(notifies[2]!, /^Subscription-State: terminated/im);
    assert.deepEqual(await subscriptionsOf('1002'), [], 'unsubscribed: nothing kept');
  });

  it('answers a one-time fetch (Expires: 0) with 200 and one NOTIFY that ends it, keeping nothing', async () => {
    const r = await phone('subscribe-fetch', { user: '1002' });
    assert.match(received(r, /^SIP\/2\.0 200/), /^Expires: 0\s*$/im);
    assert.match(received(r, /^NOTIFY /), /^Subscription-State: terminated;reason=timeout/im);
    assert.deepEqual(await subscriptionsOf('1002'), []);
  });

  it('challenges a SUBSCRIBE without credentials (401 with a digest challenge), like REGISTER', async () => {
    const r = await phone('subscribe-refused', { user: '1002', target: '1001', event: 'dialog', expires: '600' }, { credentials: false });
    assert.match(received(r, /^SIP\/2\.0 401/), /^WWW-Authenticate: Digest realm="knock\.localhost"/im);
  });

  it('answers an event package it does not serve with 489 Bad Event and Allow-Events, not 503', async () => {
    const r = await phone('subscribe-refused', { user: '1002', target: '1001', event: 'as-feature-event', expires: '600' }, { credentials: false });
    assert.match(received(r, /^SIP\/2\.0 489/), /^Allow-Events: message-summary, dialog, presence/im);
  });

  it('answers MESSAGE and PUBLISH with 405 and Allow, and OPTIONS with what it takes', async () => {
    const r = await phone('methods-not-allowed', {}, { service: '1001', credentials: false });
    const answers = allReceived(r, /^SIP\/2\.0 405/);
    assert.equal(answers.length, 2);
    for (const a of answers) assert.match(a, /^Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY, SUBSCRIBE, REGISTER\s*$/im);
    const options = received(await phone('options-ping', {}, { service: '1001', credentials: false }), /^SIP\/2\.0 200/);
    assert.match(options, /^Allow-Events: message-summary, dialog, presence/im);
    assert.match(options, /^Accept: application\/sdp, /im);
    assert.match(options, /^Supported: timer/im);
  });

  it("shows a colleague's busy lamp: dialog confirmed while their customer call is up, terminated when it ends", async () => {
    const { env, cc, pcap, phonePort } = center();
    // Ben's phone watches Anna's extension from its own port.
    const lamp = await startSippUas({
      scenario: 'subscribe-dialog',
      remote: env.remote,
      localPort: await freePort({ udp: true }),
      vars: { user: '1002', target: '1001', expires: '600' },
      extraArgs: ['-au', '1002', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `1001@${env.remote}`],
      timeoutMs: 60_000,
    });
    const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
    try {
      // The first NOTIFY (Anna free) has been sent once the subscription has its first version.
      await waitFor('the busy-lamp subscription and its first NOTIFY', async () => (await subscriptionsOf('1002')).some((s) => s.target === '1001' && s.version >= 1));
      const { token } = await verifiedCall(env.svc, cc, 'anna', 'CASE-BLF');
      const caller = callerArgs(cc, token);
      await runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '3000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
      await anna.done;
      const r = await lamp.done;
      const states = dialogStates(r);
      console.log(`      busy lamp of 1001 seen by 1002: ${states.map((s) => `${s.state}(v${s.version})`).join(' → ')}`);
      assert.equal(states[0]!.state, 'terminated');
      const busyAt = states.findIndex((s) => s.state === 'confirmed');
      assert.ok(busyAt > 0, 'a NOTIFY said confirmed');
      assert.ok(states.slice(busyAt + 1).some((s) => s.state === 'terminated'), 'a later NOTIFY said terminated');
      for (let i = 1; i < states.length; i++) assert.ok(states[i]!.version > states[i - 1]!.version, 'document versions only grow');
      assert.match(received(r, /^NOTIFY /), /^Content-Type: application\/dialog-info\+xml/im);
    } finally {
      await anna.stop();
      await lamp.stop();
    }
  });

  it("tells a colleague's presence (PIDF), puts right a lamp a change without an event left wrong, and ends it with reason=timeout once it runs out", async () => {
    const { env, deps, cc } = center();
    const subscriptions = env.svc.service.sip!.subscriptions;
    const watcher = await startSippUas({
      scenario: 'subscribe-presence',
      remote: env.remote,
      localPort: await freePort({ udp: true }),
      vars: { user: '1002', target: '1001', expires: '60' },
      extraArgs: ['-au', '1002', '-ap', DESK_PHONE_PASSWORD, '-auth_uri', `1001@${env.remote}`],
      timeoutMs: 30_000,
    });
    const anna = cc.agents.anna!;
    try {
      await waitFor('the presence subscription and its first NOTIFY', async () => (await subscriptionsOf('1002')).some((s) => s.event === 'presence' && s.version >= 1));
      assert.equal(await subscriptions.catchUp(), 0, 'the lamp is right');
      // Anna goes away through a process that publishes no event here (an instance without SIP).
      await deps.store.agents.setAvailability(anna.id, 'away', new Date());
      // (The service's own sweep may get there first: either way one NOTIFY, counted below.)
      await subscriptions.catchUp();
      assert.equal(await subscriptions.catchUp(), 0, 'nothing left to tell');
      // The service's own sweep may have sent that NOTIFY a moment ago: let it reach the phone
      // before the final one, which would otherwise overtake it.
      await new Promise((r) => setTimeout(r, 1_000));
      // Seen from two minutes later it has run out without a refresh.
      assert.equal(await subscriptions.sweepExpired(new Date(Date.now() + 120_000)), 1);
      const notifies = allReceived(await watcher.done, /^NOTIFY /);
      assert.equal(notifies.length, 3);
      assert.match(notifies[0]!, /^Content-Type: application\/pidf\+xml/im);
      assert.match(notifies[0]!, /<presence [^>]*entity="sip:1001@knock\.localhost"/);
      assert.match(notifies[0]!, /<basic>open<\/basic>[\s\S]*<dm:note>Available<\/dm:note>/);
      assert.match(notifies[1]!, /^Subscription-State: active;/im);
      assert.match(notifies[1]!, /<basic>closed<\/basic>[\s\S]*<dm:note>Away<\/dm:note>/);
      assert.match(notifies[2]!, /^Subscription-State: terminated;reason=timeout/im);
      assert.deepEqual(await subscriptionsOf('1002'), []);
    } finally {
      await deps.store.agents.setAvailability(anna.id, 'available', new Date());
      await watcher.stop();
    }
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`a real softphone (baresip's presence module) over ${transport.toUpperCase()} watching a colleague sees them go busy on a customer call and free after`, async function () {
      skipWhenMissing(this, baresipAvailable() ? `baresip test skipped: ${baresipAvailable()}` : null);
      const { env, cc, pcap, phonePort } = center();
      let watcher: Baresip | null = null;
      const anna = await startSippUas({ scenario: 'desk-phone-answer', localPort: phonePort['1001'], calls: 1, rtpEcho: true, timeoutMs: 60_000 });
      try {
        watcher = await startBaresip({ user: '1002', password: DESK_PHONE_PASSWORD, registrar: env.remote, transport, watch: ['1001'] });
        // The phone's contact list says what it last heard of Anna (colours stripped).
        const annaOnPhone = async () => {
          // eslint-disable-next-line no-control-regex
          const list = String((await watcher!.command('contacts')).data ?? '').replace(/\x1b\[[0-9;]*m/g, '');
          return /(\w+)\s+<sip:1001@/.exec(list)?.[1] ?? 'none';
        };
        const until = (status: string) =>
          waitFor(`baresip to see anna ${status}`, async () => (await annaOnPhone()) === status, 20_000).catch(async (e: Error) => {
            throw new Error(`${e.message} (it shows ${await annaOnPhone()})\n${watcher!.output().slice(-3000)}`);
          });
        await until('Online');
        const { token } = await verifiedCall(env.svc, cc, 'anna', `CASE-BLF-${transport}`);
        const caller = callerArgs(cc, token);
        const call = runSipp({ scenario: 'customer-call', remote: env.remote, service: 'agent', vars: { ...caller.vars, pcap, talk_ms: '4000' }, extraArgs: caller.extraArgs, timeoutMs: 60_000 });
        await until('Busy');
        await call;
        await anna.done;
        await until('Online');
        // eslint-disable-next-line no-control-regex
        console.log(`      baresip (${transport}): ${(watcher.output().replace(/\x1b\[[0-9;]*m/g, '').match(/changed status from \w+ to \w+/g) ?? []).join(', ')}`);
      } finally {
        await watcher?.stop();
        await anna.stop();
      }
    });
  }
});
