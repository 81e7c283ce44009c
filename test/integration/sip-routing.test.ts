/**
 * Calls from desk phones through the B2BUA and feature codes, against a real drachtio-server with
 * sipp as the phones: extension to extension, a group number, unknown and unregistered numbers,
 * *88 knock and *89 take-next-callback.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Agent, Customer } from '../../src/domain/model.js';
import { createAgent, createCustomer, saveGroup } from '../../src/flows/directory.js';
import type { FlowDeps, LiveEvent } from '../../src/flows/ports.js';
import { freePort } from '../support/drachtio-server.js';
import { sipSkipReason, startSipTestEnv, type SipTestEnv } from '../support/sip-test-env.js';
import { runSipp, startSippUas } from '../support/sipp.js';
import { skipWhenMissing } from '../support/skip-when-missing.js';
import { waitFor } from '../support/wait-for.js';

const PASSWORD = 'desk-phone-secret-1';

const ROUTING = `
extensions:
  "2000":
    name: Support line
    group: support
groups:
  support:
    strategy: longest_idle
    ringSeconds: 5
    hours:
      timeZone: UTC
      weekly: { "1": ["00:00-24:00"], "2": ["00:00-24:00"], "3": ["00:00-24:00"], "4": ["00:00-24:00"], "5": ["00:00-24:00"], "6": ["00:00-24:00"], "7": ["00:00-24:00"] }
featureCodes:
  "*88":
    action: knock
    reason: Your adviser would like to talk to you
    defaultCountry: GB
  "*89":
    action: next_callback
`;

/** Status line and Warning text of the final response sipp received. */
function finalAnswer(messages: string): { status: number; reason: string; warning: string | null } {
  const received = messages.split(/-{20,}[^\n]*\n/).filter((m) => /message received/.test(m));
  for (const m of received.reverse()) {
    const line = /^SIP\/2\.0 (\d{3}) (.*)$/m.exec(m);
    if (line && Number(line[1]) >= 200 && line[1] !== '401') {
      const warn = /^Warning: 399 \S+ "(.*)"/m.exec(m);
      return { status: Number(line[1]), reason: line[2]!.trim(), warning: warn ? warn[1]! : null };
    }
  }
  throw new Error(`no final response in\n${messages}`);
}

describe('SIP routing: desk phone calls and feature codes (drachtio-server + sipp)', function () {
  let env: SipTestEnv;
  let deps: FlowDeps;
  let dir: string;
  let anna: Agent;
  let ben: Agent;
  let customer: Customer;

  before(async function () {
    skipWhenMissing(this, sipSkipReason());
    dir = mkdtempSync(join(tmpdir(), 'knock-routing-'));
    writeFileSync(join(dir, 'routing.yaml'), ROUTING);
    env = await startSipTestEnv({ KNOCK_SIP__ROUTING_FILE: join(dir, 'routing.yaml'), KNOCK_SIP__AGENT_RING_SECONDS: '3' });
    deps = env.svc.service.deps;
    await saveGroup(deps, {
      id: 'support',
      name: 'Support',
      timeZone: 'UTC',
      businessHours: { '1': ['00:00-24:00'] },
      slotCapacity: null,
      slotMinutes: 30,
      callbackMode: 'agent_calls',
    });
    anna = await createAgent(deps, { username: 'anna', name: 'Anna Agent', extension: '1001', password: PASSWORD, groups: ['support'] });
    ben = await createAgent(deps, { username: 'ben', name: 'Ben Agent', extension: '1002', password: PASSWORD, groups: ['support'] });
    await createAgent(deps, { username: 'carl', name: 'Carl Agent', extension: '1003', password: PASSWORD, groups: [] });
    customer = await createCustomer(deps, { name: 'Chris Customer', phone: '+447700900123', timeZone: 'Europe/London', externalRef: null });
    // Anna's phone registers (from a port nobody answers on: she only places calls here).
    await register('1001', await freePort({ udp: true }));
  });

  after(async () => {
    await env?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function register(user: string, localPort: number) {
    return runSipp({ scenario: 'register-ok', remote: env.remote, localPort, timeoutMs: 10_000, vars: { user, expires: '600' }, extraArgs: ['-au', user, '-ap', PASSWORD] });
  }

  // Phones put the Request-URI in the digest; sipp needs telling (it defaults to host:port).
  // (sipp adds the "sip:" itself.)
  const authUri = (dialled: string) => ['-auth_uri', `${dialled}@${env.remote}`];

  /** Anna's desk phone dials `dialled` (by default a call that only reads the final answer). */
  const dial = (dialled: string, opts: { scenario?: string; timeoutMs?: number; extraArgs?: string[] } = {}) =>
    runSipp({
      scenario: opts.scenario ?? 'feature-code',
      remote: env.remote,
      timeoutMs: opts.timeoutMs ?? 15_000,
      vars: { user: '1001', dialled },
      extraArgs: ['-au', '1001', '-ap', PASSWORD, ...authUri(dialled), ...(opts.extraArgs ?? [])],
    });

  it('connects a desk phone call to another extension through the B2BUA; both phones hang up cleanly', async () => {
    const benPort = await freePort({ udp: true });
    await register('1002', benPort);
    await waitFor('ben to become available', async () => (await deps.store.agents.get(ben.id))!.availability === 'available');
    const benPhone = await startSippUas({ scenario: 'desk-phone-answer', localPort: benPort, calls: 1, timeoutMs: 30_000 });
    try {
      await dial('1002', { scenario: 'desk-phone-call', timeoutMs: 20_000, extraArgs: ['-d', '300'] });
      const answered = await benPhone.done;
      // Ben's phone saw who was calling, and no credentials of Anna's leg.
      const invite = answered.messages.split(/-{20,}[^\n]*\n/).find((m) => /^INVITE /m.test(m))!;
      assert.match(invite, /^From: "Anna Agent" <sip:1001@knock\.localhost>/m);
      assert.doesNotMatch(invite, /Authorization/i);
    } finally {
      await benPhone.stop();
    }
    await waitFor('ben to be free again', async () => (await deps.store.agents.get(ben.id))!.availability === 'available');
  });

  it('rings a group number: the available, registered member answers', async () => {
    const benPort = Number(/:(\d+);/.exec((await deps.store.registrations.list('1002', new Date()))[0]!.contact)![1]);
    const benPhone = await startSippUas({ scenario: 'desk-phone-answer', localPort: benPort, calls: 1, timeoutMs: 30_000 });
    try {
      await dial('2000', { scenario: 'desk-phone-call', timeoutMs: 20_000, extraArgs: ['-d', '200'] });
      await benPhone.done;
    } finally {
      await benPhone.stop();
    }
  });

  it('passes the caller hanging up while it rings on to the ringing phone (CANCEL), and gives up after the ring time', async () => {
    const carlPort = await freePort({ udp: true });
    await register('1003', carlPort);
    try {
      await cancelAndNoAnswer(carlPort);
    } finally {
      await deps.store.registrations.removeAll('1003');
    }
  });

  async function cancelAndNoAnswer(carlPort: number) {
    const carlPhone = await startSippUas({ scenario: 'desk-phone-ring', localPort: carlPort, calls: 1, timeoutMs: 30_000 });
    try {
      await dial('1003', { scenario: 'desk-phone-cancel' });
      // Carl's phone saw the CANCEL and answered it (the scenario requires it).
      await carlPhone.done;
    } finally {
      await carlPhone.stop();
    }
    // Nobody picks up: after sip.agentRingSeconds (3 s here) the B2BUA cancels and answers 480.
    const again = await startSippUas({ scenario: 'desk-phone-ring', localPort: carlPort, calls: 1, timeoutMs: 30_000 });
    try {
      const answer = finalAnswer((await dial('1003')).messages);
      assert.equal(answer.status, 480);
      assert.equal(answer.reason, 'No Answer');
      await again.done;
    } finally {
      await again.stop();
    }
  }

  it('answers an unknown number with 404 and an unregistered agent with 480', async () => {
    const unknown = finalAnswer((await dial('9999')).messages);
    assert.equal(unknown.status, 404);
    const offline = finalAnswer((await dial('1003')).messages);
    assert.equal(offline.status, 480);
    assert.match(offline.warning ?? '', /1003 is not registered/);
  });

  it('*88 plus the customer number sends a knock to that customer', async () => {
    const answer = finalAnswer((await dial('*8807700900123')).messages);
    assert.equal(answer.status, 480);
    assert.equal(answer.reason, 'Knock Sent');
    assert.match(answer.warning ?? '', /Knock sent to Chris Customer/);
    const [request] = await deps.store.callRequests.list({ customerId: customer.id });
    assert.ok(request, 'a call request exists');
    assert.equal(request.agentId, anna.id);
    assert.equal(request.state, 'notified');
    assert.equal(request.createdBy, `agent:${anna.id}`);
    assert.equal(request.reason, 'Your adviser would like to talk to you');
    const audit = await deps.store.audit.list({ subject: `agent:${anna.id}` });
    assert.ok(audit.some((e) => e.action === 'sip.invite.auth' && e.decision === 'allow' && e.data.dialled === '*88…'));
    // No device is enrolled, so the customer got the SMS.
    assert.ok(env.svc.twilio.messages.some((m) => m.to === '+447700900123'));
  });

  it('*88 with a number no customer has, or a bad number, gets a clear SIP error', async () => {
    const none = finalAnswer((await dial('*88447700900999')).messages);
    assert.equal(none.status, 404);
    assert.equal(none.reason, 'Customer Not Found');
    assert.match(none.warning ?? '', /\+447700900999/);
    const bad = finalAnswer((await dial('*8812')).messages);
    assert.equal(bad.status, 484);
  });

  it('*89 takes the oldest due callback of the agent\'s groups and asks the media side to dial it', async () => {
    // Another customer: anna already has an open knock for Chris from the *88 test.
    const dana = await createCustomer(deps, { name: 'Dana Customer', phone: '+447700900456', timeZone: 'Europe/London', externalRef: null });
    const now = new Date();
    const { request } = await deps.store.callRequests.create({
      reference: 'CASE-89',
      reason: 'Card payment check',
      customerId: dana.id,
      agentId: ben.id,
      groupId: 'support',
      requestedAt: new Date(now.getTime() - 3_600_000),
      createdBy: `agent:${ben.id}`,
      idempotencyKey: null,
      state: 'scheduled',
      answerDeadline: new Date(now.getTime() - 3_000_000),
      acceptedDeviceId: null,
      authMethod: null,
      authenticatedAt: null,
      scheduledFor: new Date(now.getTime() - 60_000),
      scheduleNote: null,
      snoozeUntil: null,
      holdUntil: null,
      attempts: 0,
      outcome: null,
    });
    await waitFor('anna to be available', async () => (await deps.store.agents.get(anna.id))!.availability === 'available');
    const events: LiveEvent[] = [];
    const unsubscribe = deps.events.subscribe((e) => events.push(e));
    try {
      const answer = finalAnswer((await dial('*89')).messages);
      assert.equal(answer.reason, 'Callback Taken', answer.warning ?? '');
      assert.equal(answer.status, 480);
      const dialEvent = events.find((e) => e.type === 'callback.dial');
      assert.deepEqual(dialEvent && { ...dialEvent, at: undefined }, { type: 'callback.dial', requestId: request.id, agentId: anna.id, customerId: dana.id, at: undefined });
    } finally {
      unsubscribe();
    }
    // The media side reacts to callback.dial at once (and may already have tried the call), so
    // what this flow did is read from its events, not from the request's current state.
    assert.ok(events.some((e) => e.type === 'request.changed' && e.requestId === request.id && e.state === 'agent_dialled' && e.agentId === anna.id));
    assert.equal((await deps.store.callRequests.get(request.id))!.agentId, anna.id);

    // Nothing else is due: the next *89 says so (anna is free again for it).
    await deps.store.agents.setAvailability(anna.id, 'available', new Date());
    const none = finalAnswer((await dial('*89')).messages);
    assert.equal(none.status, 404);
    assert.equal(none.reason, 'No Callback Due');
    assert.equal((await deps.store.agents.get(anna.id))!.availability, 'available');
  });

  it('refuses a desk phone INVITE with a wrong password (401, then 403)', async () => {
    const r = await runSipp({ scenario: 'feature-code', remote: env.remote, timeoutMs: 10_000, vars: { user: '1001', dialled: '1002' }, extraArgs: ['-au', '1001', '-ap', 'wrong-password', ...authUri('1002')] });
    assert.equal(finalAnswer(r.messages).status, 403);
  });

  it('never writes credentials to the log', () => {
    const all = env.svc.logs.join('\n');
    assert.doesNotMatch(all, new RegExp(PASSWORD));
    assert.doesNotMatch(all, /Digest username|response="/);
  });
});
