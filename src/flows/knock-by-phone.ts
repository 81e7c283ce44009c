/**
 * Knock from the desk phone (SPEC core flow 1 step 1, "a feature code dialled on the desk
 * phone"): the agent dials the feature code and the customer's number; the number is read as
 * E.164, the customer found, and the usual call request made.
 */
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { AppError } from '../domain/errors.js';
import type { Customer } from '../domain/model.js';
import { requestCall, type KnockResult } from './knock.js';
import type { FlowDeps } from './ports.js';

/**
 * Dialled digits -> E.164: "+447700900123", "00447700900123" and "447700900123" all give
 * +447700900123; a national number ("07700900123") needs the default country.
 */
export function dialledToE164(dialled: string, defaultCountry: CountryCode | null): string {
  const digits = dialled.replace(/[\s().-]/g, '');
  if (!/^\+?[0-9]{3,17}$/.test(digits)) throw new AppError('validation_failed', `"${dialled}" is not a phone number.`);
  let candidate: string;
  if (digits.startsWith('+')) candidate = digits;
  else if (digits.startsWith('00')) candidate = `+${digits.slice(2)}`;
  else if (digits.startsWith('0') && defaultCountry) {
    const national = parsePhoneNumberFromString(digits, defaultCountry);
    if (!national) throw new AppError('validation_failed', `"${dialled}" is not a ${defaultCountry} number.`);
    candidate = national.number;
  } else candidate = `+${digits}`;
  const parsed = parsePhoneNumberFromString(candidate);
  if (!parsed || !parsed.isPossible()) throw new AppError('validation_failed', `"${dialled}" is not a possible international number.`);
  return parsed.number;
}

export interface KnockByPhoneInput {
  agentId: string;
  dialled: string;
  defaultCountry: CountryCode | null;
  reason: string;
  /** Makes a retransmitted or repeated dial of the same call idempotent (the SIP Call-ID). */
  idempotencyKey: string;
}

export async function knockByPhone(deps: FlowDeps, input: KnockByPhoneInput): Promise<KnockResult & { customer: Customer }> {
  const phone = dialledToE164(input.dialled, input.defaultCountry);
  const found = await deps.store.customers.getByPhone(phone);
  if (found.length === 0) throw new AppError('not_found', `No customer has the number ${phone}.`, { phone });
  if (found.length > 1) {
    throw new AppError('conflict', `${found.length} customers share the number ${phone}; knock from the console instead.`, { phone, count: found.length });
  }
  const customer = found[0]!;
  const stamp = deps.clock().toISOString().slice(0, 16).replace(/[-:T]/g, '');
  const result = await requestCall(deps, {
    agentId: input.agentId,
    customerId: customer.id,
    reason: input.reason,
    // Dialled from a phone there is no case number: the reference says where it came from.
    reference: `PHONE-${stamp}`,
    idempotencyKey: `sip:${input.idempotencyKey}`,
    createdBy: `agent:${input.agentId}`,
  });
  return { ...result, customer };
}
