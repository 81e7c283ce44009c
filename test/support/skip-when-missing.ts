/** The one way a suite says it cannot run here: its reason on one line, then the suite is skipped. */
export function skipWhenMissing(ctx: Mocha.Context, reason: string | null): void {
  if (!reason) return;
  console.log(`      ${reason}`);
  ctx.skip();
}
