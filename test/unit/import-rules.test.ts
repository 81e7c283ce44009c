/**
 * The import rules of src/ (.dependency-cruiser.cjs): no import circles, a pure src/domain,
 * adapters that do not import one another, a store that imports no adapter. Run with
 * dependency-cruiser's API, so `npm test` fails with the list of violations.
 */
import assert from 'node:assert/strict';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

describe('import rules of src/ (dependency-cruiser)', function () {
  // Parses every module of src/ with TypeScript: a few seconds on a busy machine.
  this.timeout(120_000);

  it('finds no import circle, impure domain module, adapter importing another adapter, or store importing an adapter', async () => {
    const options = await extractDepcruiseOptions('./.dependency-cruiser.cjs');
    const tsConfig = extractTSConfig('tsconfig.json');
    const { output } = await cruise(['src'], options, undefined, { tsConfig });
    const result = output as ICruiseResult;
    // A resolver that found nothing would find no violations either: src/ has a few hundred modules.
    assert.ok(result.summary.totalCruised > 200, `only ${result.summary.totalCruised} modules were read`);
    const violations = result.summary.violations.map((v) => {
      const path = v.cycle?.length ? `${v.from} → ${v.cycle.map((c) => c.name).join(' → ')}` : `${v.from} → ${v.to}`;
      return `${v.rule.name}: ${path}`;
    });
    assert.deepEqual(violations, [], `import rules broken:\n  ${violations.join('\n  ')}`);
  });
});
