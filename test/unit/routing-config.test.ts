import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { loadRoutingConfig, matchFeatureCode, parseRoutingConfig, RoutingConfigError } from '../../src/sip/routing-config.js';
import { dialledToE164 } from '../../src/flows/knock-by-phone.js';

function problems(text: string): string[] {
  try {
    parseRoutingConfig(text, 'config/routing.yaml');
  } catch (e) {
    assert.ok(e instanceof RoutingConfigError, String(e));
    return e.problems;
  }
  assert.fail('the file was accepted');
}

describe('routing file', () => {
  it('the shipped config/routing.yaml is valid and has the two feature codes', () => {
    const routing = loadRoutingConfig(resolve('config/routing.yaml'), 'config/routing.yaml');
    assert.deepEqual(
      routing.featureCodes.map((f) => [f.code, f.action]),
      [
        ['*88', 'knock'],
        ['*89', 'next_callback'],
      ],
    );
    assert.deepEqual(routing.extensions.get('2000')?.target, { kind: 'group', group: 'support' });
    assert.equal(routing.groups.get('support')?.overflow, '2100');
  });

  it('names the line and column of a reference to an undefined group', () => {
    const text = ['extensions:', '  "2000":', '    name: Sales', '    group: sales', 'groups:', '  support: {}', ''].join('\n');
    assert.deepEqual(problems(text), ["config/routing.yaml:4:5: extensions.2000.group: no group 'sales' defined"]);
  });

  it('reports every problem at once, in file order', () => {
    const text = [
      'extensions:', //                                   1
      '  "12a":', //                                      2
      '    group: support', //                            3
      '  "2000":', //                                     4
      '    group: support', //                            5
      '    overflow: "2999"', //                          6
      'groups:', //                                       7
      '  support:', //                                    8
      '    strategy: random', //                          9
      '    ringSeconds: 1', //                            10
      '    hours:', //                                    11
      '      timeZone: Mars/Olympus', //                  12
      '      weekly:', //                                 13
      '        "1": ["18:00-08:00"]', //                  14
      'featureCodes:', //                                 15
      '  "*88":', //                                      16
      '    action: knock', //                             17
      '    defaultCountry: XX', //                        18
      '  "#9":', //                                       19
      '    action: knock', //                             20
      '  "*7":', //                                       21
      '    action: transfer', //                          22
      'colour: blue', //                                  23
    ].join('\n');
    const found = problems(text);
    const at = found.map((p) => p.split(': ')[0]);
    assert.deepEqual(at, [
      'config/routing.yaml:2:3',
      'config/routing.yaml:6:5',
      'config/routing.yaml:9:5',
      'config/routing.yaml:10:5',
      'config/routing.yaml:12:7',
      'config/routing.yaml:14:15',
      'config/routing.yaml:18:5',
      'config/routing.yaml:19:3',
      'config/routing.yaml:22:5',
      'config/routing.yaml:23:1',
    ]);
    assert.match(found[1]!, /extensions\.2000\.overflow: no extension '2999' defined/);
    assert.match(found[5]!, /must end after they start/);
    assert.match(found[9]!, /\(file\)\.colour: unknown key/);
  });

  it('refuses overflow that goes round in a loop', () => {
    const text = [
      'extensions:',
      '  "2000":',
      '    group: a',
      '  "2100":',
      '    group: b',
      'groups:',
      '  a:',
      '    overflow: "2100"',
      '  b:',
      '    overflow: "2000"',
    ].join('\n');
    const [p] = problems(text);
    assert.match(p!, /^config\/routing\.yaml:2:3: extensions\.2000: overflow goes round in a loop: 2000 -> 2100 -> 2000/);
  });

  it('reports YAML syntax errors and duplicate numbers with their position', () => {
    assert.match(problems('extensions:\n  "2000": [\n')[0]!, /^config\/routing\.yaml:\d+:\d+: YAML: /);
    assert.match(problems('extensions:\n  "2000": {uri: "sip:a@h"}\n  "2000": {uri: "sip:b@h"}\n')[0]!, /^config\/routing\.yaml:3:3: YAML: Map keys must be unique/);
  });

  it('keeps the digits engineers wrote (leading zeros) and needs exactly one target', () => {
    const routing = parseRoutingConfig('extensions:\n  "0100":\n    uri: sip:lobby@127.0.0.1:5099\n', 'r.yaml');
    assert.deepEqual(routing.extensions.get('0100')?.target, { kind: 'uri', uri: 'sip:lobby@127.0.0.1:5099' });
    assert.match(problems('extensions:\n  "2000":\n    agent: anna\n    uri: sip:x@h\n')[0]!, /2:3: extensions\.2000: has both agent and uri/);
  });

  it('matches the longest feature code first', () => {
    const routing = parseRoutingConfig(
      ['featureCodes:', '  "*8":', '    action: next_callback', '  "*88":', '    action: knock', ''].join('\n'),
      'r.yaml',
    );
    assert.deepEqual(matchFeatureCode(routing, '*88447700900123')?.rest, '447700900123');
    assert.equal(matchFeatureCode(routing, '*88447700900123')?.feature.action, 'knock');
    assert.equal(matchFeatureCode(routing, '*8')?.feature.action, 'next_callback');
    assert.equal(matchFeatureCode(routing, '1001'), null);
  });
});

describe('dialled numbers to E.164 (*88)', () => {
  it('reads international, 00-prefixed and national numbers', () => {
    assert.equal(dialledToE164('447700900123', null), '+447700900123');
    assert.equal(dialledToE164('+447700900123', null), '+447700900123');
    assert.equal(dialledToE164('00447700900123', null), '+447700900123');
    assert.equal(dialledToE164('07700900123', 'GB'), '+447700900123');
  });

  it('refuses what cannot be a phone number', () => {
    assert.throws(() => dialledToE164('12', null), /not a phone number|not a possible/);
    assert.throws(() => dialledToE164('44abc', null), /not a phone number/);
  });
});
