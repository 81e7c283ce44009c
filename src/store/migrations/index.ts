/**
 * Every schema migration, in the order it must run. A migration is never edited once released:
 * a change is a new file (002-…) appended here.
 */
import * as m001 from './001-initial.js';
import * as m002 from './002-registrations.js';
import * as m003 from './003-audit-append.js';
import * as m004 from './004-app-registrations.js';
import * as m005 from './005-call-liveness.js';
import * as m006 from './006-outbox.js';
import * as m007 from './007-attempt-limits.js';
import * as m008 from './008-idempotency-fingerprint.js';
import * as m009 from './009-checks-in-flight.js';
import * as m010 from './010-phone-reachability.js';
import * as m011 from './011-sip-subscriptions.js';
import * as m012 from './012-request-holds.js';
import * as m013 from './013-cancel-reasons.js';
import * as m014 from './014-call-setup-legs.js';
import * as m015 from './015-sip-dialog-states.js';
import * as m016 from './016-live-events.js';
import * as m017 from './017-history-indexes.js';
import * as m018 from './018-device-language.js';
import * as m019 from './019-registration-flows.js';
import * as m020 from './020-not-verified-outcome.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: m001.name, sql: m001.sql },
  { version: 2, name: m002.name, sql: m002.sql },
  { version: 3, name: m003.name, sql: m003.sql },
  { version: 4, name: m004.name, sql: m004.sql },
  { version: 5, name: m005.name, sql: m005.sql },
  { version: 6, name: m006.name, sql: m006.sql },
  { version: 7, name: m007.name, sql: m007.sql },
  { version: 8, name: m008.name, sql: m008.sql },
  { version: 9, name: m009.name, sql: m009.sql },
  { version: 10, name: m010.name, sql: m010.sql },
  { version: 11, name: m011.name, sql: m011.sql },
  { version: 12, name: m012.name, sql: m012.sql },
  { version: 13, name: m013.name, sql: m013.sql },
  { version: 14, name: m014.name, sql: m014.sql },
  { version: 15, name: m015.name, sql: m015.sql },
  { version: 16, name: m016.name, sql: m016.sql },
  { version: 17, name: m017.name, sql: m017.sql },
  { version: 18, name: m018.name, sql: m018.sql },
  { version: 19, name: m019.name, sql: m019.sql },
  { version: 20, name: m020.name, sql: m020.sql },
];
