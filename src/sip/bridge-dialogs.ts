/**
 * Joins the two dialogs of a B2BUA call between desk phones (RFC 3261 §14 re-INVITE, §15 BYE):
 * a hang-up on one side ends the other; a re-INVITE (hold/unhold, codec change) is passed to the
 * other side and its answer returned, including 491 on glare; INFO (DTMF) is relayed.
 */
import type Srf from 'drachtio-srf';
import type { Logger } from 'pino';

type Side = 'caller' | 'callee';

export function bridgeDialogs(uas: Srf.Dialog, uac: Srf.Dialog, log: Logger): Promise<{ endedBy: Side }> {
  return new Promise((resolve) => {
    let ended = false;
    const end = (by: Side, other: Srf.Dialog) => {
      if (ended) return;
      ended = true;
      other.destroy();
      log.info({ endedBy: by }, 'desk phone call ended');
      resolve({ endedBy: by });
    };
    uas.on('destroy', () => end('caller', uac));
    uac.on('destroy', () => end('callee', uas));

    const relayModify = (from: Srf.Dialog, to: Srf.Dialog) => {
      from.on('modify', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
        to.modify(req.body)
          .then((sdp: string) => res.send(200, { body: sdp, headers: { 'Content-Type': 'application/sdp' } }))
          .catch((err: { status?: number }) => res.send(err.status && err.status >= 400 ? err.status : 500));
      });
      from.on('info', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
        const headers: Record<string, string> = {};
        if (req.has('Content-Type')) headers['Content-Type'] = req.get('Content-Type');
        to.request({ method: 'INFO', headers, body: req.body } as unknown as Srf.SrfRequest)
          .then((r: Srf.SrfResponse) => res.send(r.status))
          .catch(() => res.send(500));
      });
      from.on('refer', (_req: Srf.SrfRequest, res: Srf.SrfResponse) => {
        // Transfers between desk phones are not offered on internal calls.
        res.send(501);
      });
    };
    relayModify(uas, uac);
    relayModify(uac, uas);
  });
}
