import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/load-config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
}

describe('configuration', () => {
  it('has defaults that validate', () => {
    const c = loadConfig({});
    assert.equal(c.requests.answerTimeLimitSeconds, 300);
    assert.equal(c.database.url, '');
  });
  it('takes typed overrides from the environment and aliases', () => {
    const c = loadConfig({ KNOCK_REQUESTS__ANSWER_TIME_LIMIT_SECONDS: '90', DATABASE_URL: 'postgres://x@127.0.0.1/db', KNOCK_SCHEDULING__RETRY__RETRY_ON: 'busy,no_answer' });
    assert.equal(c.requests.answerTimeLimitSeconds, 90);
    assert.equal(c.database.url, 'postgres://x@127.0.0.1/db');
    assert.deepEqual(c.scheduling.retry.retryOn, ['busy', 'no_answer']);
  });
  it('names the bad key and why', () => {
    assert.deepEqual(problems({ KNOCK_TOKENS__LIFETIME_SECONDS: '600' }), ['tokens.lifetimeSeconds: must be <= 120']);
    assert.match(problems({ KNOCK_SERVER__PORT: 'eighty' })[0]!, /KNOCK_SERVER__PORT \(server.port\): "eighty" is not a number/);
    assert.match(problems({ KNOCK_SCHEDULING__DEFAULT_TIME_ZONE: 'Mars/Olympus' })[0]!, /scheduling.defaultTimeZone: "Mars\/Olympus" is not an IANA time zone/);
    assert.match(problems({ KNOCK_SCHEDULING__CALLBACK_MODE: 'robots' })[0]!, /scheduling.callbackMode: must be equal to one of the allowed values \(customer_calls, agent_calls\)/);
    // A slot length off the hour (45) would never start at an 08:00 opening: refused, with the lengths allowed.
    assert.deepEqual(problems({ KNOCK_SCHEDULING__SLOT_MINUTES: '45' }), ['scheduling.slotMinutes: must be equal to one of the allowed values (5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240)']);
    assert.match(problems({ KNOCK_NOPE: '1' })[0]!, /KNOCK_NOPE: no such configuration key/);
    assert.match(problems({ KNOCK_NOTIFY__SMS__ENABLED: 'true' })[0]!, /notify.sms: enabled, but accountSid/);
  });
  it('takes the branding from config and refuses unreadable colours, bad colour values and missing logo files', () => {
    const c = loadConfig({ KNOCK_BRANDING__NAME: 'Northwind Bank', KNOCK_BRANDING__PRIMARY_COLOR: '#1d5c2e', KNOCK_BRANDING__LOGO: 'src/web/app/icon.svg' });
    assert.equal(c.branding.name, 'Northwind Bank');
    assert.deepEqual(problems({ KNOCK_BRANDING__PRIMARY_COLOR: '#ffd23f' }), [
      'branding.primaryColor: "#ffd23f" has a contrast of 1.44:1 against white; white button text and links need at least 4.5:1 (a darker shade)',
    ]);
    assert.match(problems({ KNOCK_BRANDING__PRIMARY_DARK_COLOR: 'navy' })[0]!, /^branding\.primaryDarkColor: must match pattern/);
    assert.deepEqual(problems({ KNOCK_BRANDING__LOGO: 'branding/missing-logo.png' }).map((p) => p.replace(/: no such file: .*/, ': no such file')), ['branding.logo: no such file']);
    assert.match(problems({ KNOCK_BRANDING__LOGO: 'README.md' })[0]!, /branding\.logo: "README\.md" is neither an http\(s\):\/\/ URL nor an image file/);
    assert.match(problems({ KNOCK_BRANDING__NAME: '' })[0]!, /^branding\.name: must NOT have fewer than 1 characters/);
    assert.deepEqual(problems({ KNOCK_BRANDING__LOGO: 'https://cdn.example.com/logo.svg' }), []);
  });
  it('refuses closed dates that are not calendar days, naming the key and the entry', () => {
    assert.deepEqual(problems({ KNOCK_SCHEDULING__CLOSED_DATES: '["2026-12-25","2026-13-01"]', KNOCK_SCHEDULING__GROUP_CLOSED_DATES: '{"support":["Christmas"]}' }), [
      'scheduling.closedDates[1] "2026-13-01" is not a calendar date written YYYY-MM-DD (e.g. 2026-12-25)',
      'scheduling.groupClosedDates.support[0] "Christmas" is not a calendar date written YYYY-MM-DD (e.g. 2026-12-25)',
    ]);
    assert.ok(loadConfig({}).scheduling.closedDates.includes('2026-12-25'), 'the default closes Christmas Day');
  });
  it('refuses a session timer interval below its own minimum, naming both keys', () => {
    const found = problems({ KNOCK_SIP__SESSION_TIMER__EXPIRES_SECONDS: '300', KNOCK_SIP__SESSION_TIMER__MIN_SECONDS: '600' });
    assert.equal(found.length, 1);
    assert.match(found[0]!, /sip\.sessionTimer\.expiresSeconds: 300 is below sip\.sessionTimer\.minSeconds \(600\)/);
    assert.deepEqual(problems({ KNOCK_SIP__SESSION_TIMER__EXPIRES_SECONDS: '600', KNOCK_SIP__SESSION_TIMER__MIN_SECONDS: '600' }), []);
  });
});
