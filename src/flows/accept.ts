/**
 * Accept (SPEC core flow 1, step 3). Two steps, so the proof always answers a fresh challenge:
 *   1. beginAccept: the request is held for this device and a single-use challenge is issued;
 *   2. completeAccept: the device answers with a WebAuthn assertion (platform biometric) or a
 *      device-key signature plus PIN; only then is a pre-authentication token issued.
 */
import { tokenUseFor, type AuthMethod } from '../domain/call-request.js';
import { AppError, isAppError } from '../domain/errors.js';
import type { CallRequest, Device } from '../domain/model.js';
import { verifyDeviceSignature } from '../security/device-key.js';
import { checkPin, pinLockedError } from '../security/pin.js';
import { issuePreauthToken, describeTokenForLog } from '../security/preauth-token.js';
import { newChallenge, passkeyOptionsFor, verifyPasskeyAnswer } from './challenges.js';
import { loadRequest, moveRequest } from './move-request.js';
import type { FlowDeps } from './ports.js';

/** A call placed with a token in its last second still reaches call setup within this margin. */
const CALL_SETUP_MARGIN_SECONDS = 15;

/**
 * A device only ever sees its own customer's requests; others are "not found", not "forbidden".
 * `known` is the request as the caller read it with the device (authenticateDeviceWithRequest),
 * which saves reading it again.
 */
export async function loadRequestForDevice(deps: Pick<FlowDeps, 'store'>, device: Device, requestId: string, known?: CallRequest): Promise<CallRequest> {
  const req = known?.id === requestId ? known : await loadRequest(deps, requestId);
  if (req.customerId !== device.customerId) throw new AppError('not_found', `No call request ${requestId}.`);
  return req;
}

export interface AcceptChallenge {
  challengeId: string;
  challenge: string;
  expiresAt: Date;
  methods: AuthMethod[];
  webauthn: unknown | null;
}

export async function beginAccept(deps: FlowDeps, device: Device, requestId: string, known?: CallRequest): Promise<AcceptChallenge> {
  const methods: AuthMethod[] = [];
  if (device.webauthn) methods.push('biometric');
  if (device.hasPin) methods.push('pin');
  const request = await loadRequestForDevice(deps, device, requestId, known);
  // Refused before the request is held: a device that cannot authenticate must not take it.
  if (methods.length === 0) {
    throw new AppError('forbidden', 'This device has no biometric or PIN enrolled; enrol one before accepting calls.');
  }
  // Nor may a device whose only way in is a locked PIN (a passkey still works while it is locked).
  if (!device.webauthn) {
    const secrets = await deps.store.devices.secrets(device.id);
    if (secrets?.pinLockedUntil && secrets.pinLockedUntil > deps.clock()) throw pinLockedError(secrets.pinLockedUntil);
  }
  // The challenge is stored with the move, in one statement, and only if the move was written.
  const challenge = newChallenge(deps, { deviceId: device.id, callRequestId: requestId, purpose: 'accept' });
  // Held for the authentication as long as its challenge lives; then the lapse job moves it on.
  const holdUntil = challenge.expiresAt;
  await moveRequest(deps, requestId, { type: 'accept', deviceId: device.id, holdUntil }, `device:${device.id}`, request, (before, next, audit, effects) =>
    deps.store.callRequests.updateIssuingChallenge(requestId, before.version, next, audit, challenge, effects),
  );
  const webauthn = await passkeyOptionsFor(deps, device, challenge.value);
  return { challengeId: challenge.id, challenge: challenge.value, expiresAt: challenge.expiresAt, methods, webauthn };
}

export type AcceptProof =
  | { method: 'biometric'; webauthn: unknown }
  | { method: 'pin'; pin: string; signature: string };

export interface IssuedCallCredential {
  token: string;
  expiresAt: Date;
  authMethod: AuthMethod;
  sipUri: string;
  wsUrl: string;
  reference: string;
}

export async function completeAccept(
  deps: FlowDeps,
  device: Device,
  requestId: string,
  challengeId: string,
  proof: AcceptProof,
  known?: CallRequest,
): Promise<IssuedCallCredential> {
  const { store, config } = deps;
  const actor = `device:${device.id}`;
  const request = await loadRequestForDevice(deps, device, requestId, known);
  const now = deps.clock();

  const deny = async (reason: string, code: string) => {
    await store.audit.append({
      actor,
      action: 'customer.authenticate',
      subject: `call_request:${requestId}`,
      decision: 'deny',
      reason,
      data: { method: proof.method, code, deviceId: device.id },
    });
  };

  const challenge = await store.challenges.consume(challengeId, device.id, now);
  if (!challenge || challenge.callRequestId !== requestId || challenge.purpose !== 'accept') {
    await deny('challenge unknown, used, expired or for another request', 'challenge_invalid');
    throw new AppError('challenge_invalid', 'The sign-in challenge is unknown, used or expired; accept the call again.');
  }

  try {
    if (proof.method === 'biometric') {
      if (!device.webauthn) throw new AppError('auth_failed', 'This device has no biometric credential enrolled.');
      await verifyPasskeyAnswer(deps, { ...device, webauthn: device.webauthn }, proof.webauthn, challenge.value);
    } else {
      // The signature proves the enrolled device holds its key; the PIN proves the person.
      if (!verifyDeviceSignature(device.publicKeyJwk, challenge.value, proof.signature)) {
        throw new AppError('auth_failed', 'The device signature does not match this device.');
      }
      await checkPin({
        store,
        deviceId: device.id,
        pin: proof.pin,
        policy: { maxAttempts: config.auth.pin.maxAttempts, lockoutMinutes: config.auth.pin.lockoutMinutes },
        now,
      });
    }
  } catch (e) {
    if (isAppError(e)) await deny(e.message, e.code);
    throw e;
  }

  // Held for the call while its token lives, plus a margin for a call set up in its last second.
  const holdUntil = new Date(now.getTime() + (config.tokens.lifetimeSeconds + CALL_SETUP_MARGIN_SECONDS) * 1000);
  await moveRequest(deps, requestId, { type: 'authenticate', deviceId: device.id, method: proof.method, holdUntil }, actor, request);
  // The device was just used by its customer: the console's "last seen" (at most one write a minute).
  await store.devices.touch(device.id, now);

  const issued = await issueCallToken(deps, request, device, proof.method, now);
  await store.audit.append({
    actor,
    action: 'token.issue',
    subject: `call_request:${requestId}`,
    decision: 'allow',
    reason: `customer authenticated by ${proof.method}`,
    data: { jti: issued.jti, token: describeTokenForLog(issued.token), expiresAt: issued.expiresAt.toISOString() },
  });
  return {
    token: issued.token,
    expiresAt: issued.expiresAt,
    authMethod: proof.method,
    sipUri: config.sip.customerCallUri,
    wsUrl: config.sip.wsUrl,
    reference: request.reference,
  };
}

/**
 * The pre-authentication token for a request whose customer has just authenticated on `device`:
 * bound to the device key, good for a call, or only for answering the ringing agent-dialled
 * callback when that is what the request is doing.
 */
export function issueCallToken(
  deps: FlowDeps,
  request: CallRequest,
  device: { id: string; keyThumbprint: string },
  method: AuthMethod,
  now: Date,
): ReturnType<typeof issuePreauthToken> {
  const { config } = deps;
  return issuePreauthToken({
    keyRing: deps.keyRing,
    store: deps.store,
    issuer: config.tokens.issuer,
    audience: config.sip.domain,
    lifetimeSeconds: config.tokens.lifetimeSeconds,
    customerId: request.customerId,
    callRequestId: request.id,
    reference: request.reference,
    deviceId: device.id,
    deviceKeyThumbprint: device.keyThumbprint,
    amr: method,
    authTime: now,
    now,
    use: tokenUseFor(request.state),
  });
}
