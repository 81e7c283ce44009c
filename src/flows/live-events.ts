/**
 * In-process fan-out of live events to consoles (SSE) and the SIP layer. Each instance publishes
 * what it changes; a console connected to one instance sees that instance's changes and keeps
 * its list fresh by re-reading on reconnect.
 */
import { EventEmitter } from 'node:events';
import type { EventsPort, LiveEvent } from './ports.js';

export function createLiveEvents(): EventsPort {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0); // one per open console; bounded by connections, not by code
  return {
    publish(event: LiveEvent) {
      emitter.emit('event', event);
    },
    subscribe(listener) {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
  };
}
