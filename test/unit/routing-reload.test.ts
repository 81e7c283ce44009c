/** What a routing reload reports as changed: numbers, groups and feature codes, by key. */
import assert from 'node:assert/strict';
import { parseRoutingConfig } from '../../src/sip/routing-config.js';
import { describeChanges, diffRouting, routingVersion } from '../../src/sip/routing-reload.js';

const BEFORE = `
extensions:
  "2000": { group: support }
  "2100": { agent: anna }
  "2500": { uri: "sip:lobby@127.0.0.1:5099" }
groups:
  support: { strategy: longest_idle }
featureCodes:
  "*88": { action: knock }
  "*89": { action: next_callback }
`;
const AFTER = `
extensions:
  "2000": { group: support }
  "2100": { agent: ben }
  "2600": { uri: "sip:lobby@127.0.0.1:5099" }
groups:
  support: { strategy: ring_all }
  sales: { strategy: in_order }
featureCodes:
  "*88": { action: knock, reason: Call me }
`;

describe('routing reload: what changed', () => {
  it('lists numbers, groups and feature codes added, removed and changed', () => {
    const changes = diffRouting(parseRoutingConfig(BEFORE, 'r.yaml'), parseRoutingConfig(AFTER, 'r.yaml'));
    assert.deepEqual(changes, {
      extensions: { added: ['2600'], removed: ['2500'], changed: ['2100'] },
      groups: { added: ['sales'], removed: [], changed: ['support'] },
      featureCodes: { added: [], removed: ['*89'], changed: ['*88'] },
    });
    assert.equal(
      describeChanges(changes),
      'numbers: 1 added (2600), 1 removed (2500), 1 changed (2100); groups: 1 added (sales), 1 changed (support); feature codes: 1 removed (*89), 1 changed (*88)',
    );
  });

  it('sees no change in a file that only gained a comment, though its version moves', () => {
    const same = diffRouting(parseRoutingConfig(BEFORE, 'r.yaml'), parseRoutingConfig(`${BEFORE}# reviewed\n`, 'r.yaml'));
    assert.equal(describeChanges(same), 'no change');
    assert.notEqual(routingVersion(BEFORE), routingVersion(`${BEFORE}# reviewed\n`));
    assert.match(routingVersion(BEFORE), /^[0-9a-f]{16}$/);
  });
});
