/**
 * A customer's INVITE the SIP side turns away before its token is looked at (the media server is
 * unreachable, say): the token stays unspent, so the app may retry with it, and the refusal is
 * audited like the token decisions, on the dialog it came in.
 */
import type { FlowDeps } from './ports.js';

export async function callRefusedBeforeAdmission(deps: FlowDeps, args: { dialogId: string; code: string; reason: string }): Promise<void> {
  await deps.store.audit.append({
    actor: 'sip',
    action: 'call.refuse',
    subject: `dialog:${args.dialogId}`,
    decision: 'deny',
    reason: args.reason,
    data: { code: args.code, tokenSpent: false },
  });
}
