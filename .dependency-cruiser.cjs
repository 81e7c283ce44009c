/**
 * Import rules for src/, checked by test/unit/import-rules.test.ts (so `npm test` fails on a
 * violation) and by `npx depcruise src` for the full report.
 *
 * The layers (README, "Architecture"): src/domain is pure; flows hold the decisions; adapters
 * (api, sip, jobs, notify, media, web) speak one protocol each and call the flows; src/calls
 * orchestrates live calls over sip and media; src/store keeps the data; src/service.ts is the
 * composition root and the one place that wires adapters to one another.
 */
const ADAPTERS = ['api', 'sip', 'jobs', 'notify', 'media', 'web'];

/** One rule per adapter: it imports no other adapter and not the call orchestration. */
const adapterRules = ADAPTERS.map((adapter) => ({
  name: `${adapter}-imports-no-other-adapter`,
  comment: `src/${adapter} is an adapter: it talks to the flows and its own protocol; another adapter (or src/calls) reaches it only through src/service.ts.`,
  severity: 'error',
  from: { path: `^src/${adapter}/` },
  to: { path: `^src/(${ADAPTERS.filter((a) => a !== adapter).join('|')}|calls)/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle in src/: modules that need each other belong together, or share a piece moved into a module of its own.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      comment: 'src/domain holds the rules and state machines, with no I/O: it imports no other part of src/ and no Node.js module; pure libraries from npm (luxon for time zones) are allowed.',
      severity: 'error',
      from: { path: '^src/domain/' },
      to: { pathNot: '^src/domain/', dependencyTypesNot: ['npm'] },
    },
    ...adapterRules,
    {
      name: 'store-imports-no-adapter',
      comment: 'src/store keeps the data; adapters and the call orchestration use it, never the other way round.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { path: `^src/(${ADAPTERS.join('|')}|calls|flows)/` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a circle of types is still two modules that cannot be read apart.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js'] },
  },
};
