/**
 * The one machine-readable result of `npm run bench` and `npm run bench:sip`: a list of figures,
 * each a value measured beside its baseline in the same run, with the goal it must meet. The
 * goals are the product's (see docs/benchmarks.md); a bench exits 0 only when every figure meets
 * its goal, so a figure that could not be measured (a part skipped or failed, a baseline not yet
 * built) counts as missed, never as met.
 */

export interface Figure {
  id: string;
  /** What the path achieved; null when it could not be measured in this run. */
  value: number | null;
  unit: string;
  /** The same measure for the bare baseline in the same run; null when none was measured. */
  baseline: number | null;
  /** value / baseline, or null without both. */
  ratio: number | null;
  /** The goal in words, e.g. "ratio >= 0.70 and value >= 1000". */
  goal: string;
  met: boolean;
  /** Why a figure is missing, or what it was measured on. */
  note?: string;
}

export interface Goal {
  text: string;
  check(value: number, baseline: number | null, ratio: number | null): boolean;
}

export const atLeastRatio = (r: number, also?: { value: number }): Goal => ({
  text: `ratio >= ${r.toFixed(2)}${also ? ` and value >= ${also.value}` : ''}`,
  check: (v, _b, ratio) => ratio !== null && ratio >= r && (!also || v >= also.value),
});

export const atMostRatio = (r: number, also?: { value: number }): Goal => ({
  text: `ratio <= ${r.toFixed(2)}${also ? ` and value <= ${also.value}` : ''}`,
  check: (v, _b, ratio) => ratio !== null && ratio <= r && (!also || v <= also.value),
});

export const atMostValue = (max: number): Goal => ({ text: `value <= ${max}`, check: (v) => v <= max });

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export function figure(id: string, unit: string, value: number | null | undefined, baseline: number | null | undefined, goal: Goal, note?: string): Figure {
  const v = value ?? null;
  const b = baseline ?? null;
  const ratio = v !== null && b !== null && b !== 0 ? round(v / b, 3) : null;
  const met = v !== null && Number.isFinite(v) && goal.check(v, b, ratio);
  return { id, value: v === null ? null : round(v, 2), unit, baseline: b === null ? null : round(b, 2), ratio, goal: goal.text, met, ...(note ? { note } : {}) };
}

export function figuresTable(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.id,
    f.value === null ? '-' : `${f.value} ${f.unit}`,
    f.baseline === null ? '-' : `${f.baseline} ${f.unit}`,
    f.ratio === null ? '-' : String(f.ratio),
    f.goal,
    f.met ? 'met' : 'MISSED',
    f.note ?? '',
  ]);
  const head = ['figure', 'value', 'baseline', 'ratio', 'goal', '', 'note'];
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(head), width.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** 0 when every figure met its goal (and there is at least one), else 1. */
export function exitStatus(figures: Figure[]): number {
  return figures.length > 0 && figures.every((f) => f.met) ? 0 : 1;
}
