/**
 * The call screen: the customer ringing or on the agent's desk phone — who, how and when they
 * were verified, the reference — and a transfer control (an agent or a group). It follows the
 * live events `call.ringing`, `call.connected`, `call.ended` and `transfer.changed`; the call is
 * named by its request id.
 */
import { announce, errorBox, h, replace, setBusy } from '../../shared/dom.js';
import { when } from '../../shared/format.js';

const METHOD = { biometric: 'fingerprint or face (biometric)', pin: 'PIN' };

function verificationText(v) {
  if (!v) return 'Not verified on this call';
  const how = `Verified by ${METHOD[v.method] || v.method} at ${when(v.at)}`;
  return v.via === 'session' ? `${how} — carried over from the previous agent` : how;
}

const ENDED = {
  transferred: 'The call was transferred.',
  completed: 'The call has ended.',
  no_answer: 'The call was not answered here.',
  busy: 'Your phone was busy.',
  abandoned: 'The customer hung up before you answered.',
};

export function callScreen(consoleApp) {
  /** The call on screen: the call event's fields plus state ('ringing'|'connected'|'ended'). */
  let call = null;
  let transfer = null;
  const el = h('section', { class: 'card call-screen', id: 'call-screen', 'aria-labelledby': 'call-title', hidden: true });

  async function targets() {
    const [agents, groups] = await Promise.all([consoleApp.call('/api/v1/agents'), consoleApp.call('/api/v1/groups')]);
    return {
      agents: agents.items.filter((a) => a.id !== consoleApp.agent.id),
      groups: groups.items,
    };
  }

  function transferForm() {
    const select = h('select', { id: 'transfer-target', name: 'target', required: true }, h('option', { value: '' }, 'Loading…'));
    const error = h('div');
    const form = h(
      'form',
      { class: 'transfer', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'transfer-target' }, 'Transfer to'), select),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Transfer')),
    );
    targets().then(
      ({ agents, groups }) => {
        replace(
          select,
          h('option', { value: '' }, 'Choose an agent or a group'),
          h('optgroup', { label: 'Agents' }, agents.map((a) => h('option', { value: `agent:${a.id}` }, `${a.name} (${a.availability === 'available' ? 'available' : a.availability})`))),
          h('optgroup', { label: 'Groups — next free agent' }, groups.map((g) => h('option', { value: `group:${g.id}` }, g.name))),
        );
      },
      (e) => replace(error, errorBox(e.message)),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      replace(error);
      const [kind, id] = select.value.split(/:(.*)/s);
      if (!id) {
        replace(error, errorBox('Choose who to transfer the call to.'));
        select.focus();
        return;
      }
      const requestId = call.requestId;
      setBusy(form, true);
      try {
        const accepted = await consoleApp.call(`/api/v1/call-requests/${requestId}/transfer`, {
          method: 'POST',
          body: kind === 'agent' ? { toAgentId: id } : { toGroup: id },
        });
        const label = select.selectedOptions[0]?.textContent?.replace(/ \(.*\)$/, '') ?? '';
        // The live event may already have moved it further; keep the later state.
        if (!transfer || transfer.transferId !== accepted.transferId) transfer = { ...accepted, label, reason: '' };
        if (call?.requestId === requestId) {
          render();
          // The form (and its focused button) is gone: focus the transfer's status, or the heading.
          const target = el.querySelector('.message[role="status"], .message[role="alert"]') ?? el.querySelector('#call-title');
          target?.setAttribute('tabindex', '-1');
          target?.focus();
        }
      } catch (e) {
        replace(error, errorBox(e.message));
        setBusy(form, false);
      }
    });
    return form;
  }

  function transferStatus() {
    if (!transfer) return null;
    const who = transfer.label || 'the other agent';
    switch (transfer.state) {
      case 'requested':
        return h('p', { class: 'message info', role: 'status' }, `Transfer to ${who} requested…`);
      case 'ringing':
        return h('p', { class: 'message info', role: 'status' }, `Transferring — ${transfer.reason || `ringing ${who}`}…`);
      case 'completed':
        return h('p', { class: 'message ok', role: 'status' }, `Transfer complete — ${transfer.reason || `transferred to ${who}`}.`);
      case 'failed':
        return h('p', { class: 'message error', role: 'alert' }, `Transfer failed: ${transfer.reason}.`);
      default:
        return null;
    }
  }

  function render() {
    if (!call) {
      el.hidden = true;
      replace(el);
      return;
    }
    el.hidden = false;
    el.dataset.state = call.state;
    const title = call.state === 'ringing' ? 'Incoming call — answer on your desk phone' : call.state === 'connected' ? 'On a call' : 'Call ended';
    const badge =
      call.state === 'ended'
        ? h('span', { class: 'badge' }, 'Ended')
        : call.verification
          ? h('span', { class: 'badge ok' }, 'Verified')
          : h('span', { class: 'badge warn' }, 'Not verified');
    const transferring = transfer && (transfer.state === 'requested' || transfer.state === 'ringing');
    const close = h('button', { type: 'button' }, 'Close');
    close.addEventListener('click', () => {
      call = null;
      transfer = null;
      render();
    });
    replace(
      el,
      h('h2', { id: 'call-title' }, title, ' ', badge),
      h(
        'dl',
        { class: 'facts' },
        h('dt', null, 'Customer'),
        h('dd', { class: 'customer-name' }, call.customerName),
        h('dt', null, 'Verification'),
        h('dd', { class: 'verification' }, verificationText(call.verification)),
        h('dt', null, 'Reference'),
        h('dd', null, call.reference),
        h('dt', null, 'Reason'),
        h('dd', null, call.reason),
      ),
      transferStatus(),
      call.state === 'connected' && !transferring && transfer?.state !== 'completed' ? transferForm() : null,
      call.state === 'ended' ? h('p', { class: 'muted' }, ENDED[call.outcome] ?? `The call has ended (${String(call.outcome).replace(/_/g, ' ')}).`) : null,
      call.state === 'ended' ? h('div', { class: 'actions' }, close) : null,
    );
  }

  function onEvent(type, data) {
    if (type === 'call.ringing' || type === 'call.connected') {
      const same = call && call.requestId === data.requestId;
      if (!same) transfer = null;
      call = { ...data, state: type === 'call.ringing' ? 'ringing' : 'connected' };
      render();
      // Announced, not focused: the agent may be typing elsewhere when a call comes in.
      announce(type === 'call.ringing' ? `Incoming call from ${data.customerName}, ${verificationText(data.verification)}.` : `Connected to ${data.customerName}.`);
    } else if (type === 'call.ended') {
      if (!call || call.requestId !== data.requestId) return;
      call = { ...call, state: 'ended', outcome: data.outcome };
      render();
      announce(ENDED[data.outcome] ?? 'The call has ended.');
    } else if (type === 'transfer.changed') {
      if (!call || call.requestId !== data.requestId) return;
      const label = transfer?.transferId === data.transferId ? transfer.label : '';
      transfer = { ...data, label };
      render();
      if (data.state === 'failed') announce(`Transfer failed: ${data.reason}.`);
      if (data.state === 'completed') announce(`Transfer complete: ${data.reason}.`);
    }
  }

  /** After (re)connecting: missed events are not replayed, so ask what call the agent is on. */
  async function refresh() {
    const now = await consoleApp.call('/api/v1/me/call');
    if (now) {
      if (!call || call.requestId !== now.requestId || call.state !== 'connected') onEvent('call.connected', now);
    } else if (call && call.state === 'connected') {
      call = { ...call, state: 'ended', outcome: 'completed' };
      render();
    }
  }

  return { el, onEvent, refresh };
}
