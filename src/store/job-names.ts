/**
 * The kinds of scheduled work, as stored in the jobs table's `name` column. These strings are
 * persisted: renaming one strands every job already scheduled under the old name.
 */
export const JOB_NAMES = {
  /** SPEC core flow 1 step 6: the answer time limit of a call request passed. */
  expire: 'request.expire',
  /** SPEC core flow 1 step 5: "Remind me later" comes due. */
  remind: 'request.remind',
  /** An accepted or verified request's hold ran out with no call set up (never stuck there). */
  lapse: 'request.lapse',
  /** SPEC core flow 1 step 4: a scheduled callback comes due. */
  callback: 'callback.due',
  /** SPEC core flow 2: a transfer started by a scheduled job. */
  transfer: 'call.transfer',
} as const;

export type JobName = (typeof JOB_NAMES)[keyof typeof JOB_NAMES];

/** Kinds that belong to one call request; at most one of each is pending per request. */
export type RequestJobName = Exclude<JobName, 'call.transfer'>;

export const ALL_JOB_NAMES: readonly JobName[] = Object.values(JOB_NAMES);
