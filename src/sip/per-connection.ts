/**
 * One registry per drachtio connection (calls in progress are per connection: a second service
 * in the same process, as in tests, keeps its own).
 */
import type Srf from 'drachtio-srf';

export function perConnection<T>(make: () => T): (srf: Srf) => T {
  const registries = new WeakMap<Srf, T>();
  return (srf) => {
    let r = registries.get(srf);
    if (r === undefined) {
      r = make();
      registries.set(srf, r);
    }
    return r;
  };
}
