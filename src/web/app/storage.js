/**
 * What this device keeps: its API credential and its P-256 device key pair, in IndexedDB. The
 * private key is a non-extractable CryptoKey: the page can sign with it but its bytes can never
 * be read, exported or sent anywhere. The service worker reads the same record (sw.js).
 */
const DB_NAME = 'knock-app';
const STORE = 'device';
const KEY = 'this';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function run(mode, fn) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/**
 * @typedef {{ credential: string, deviceId: string, customerId: string, label: string,
 *   keyPair: CryptoKeyPair, enrolledAt: string }} StoredDevice
 * @returns {Promise<StoredDevice|null>}
 */
export async function loadDevice() {
  return (await run('readonly', (s) => s.get(KEY))) ?? null;
}

/** @param {StoredDevice} device */
export function saveDevice(device) {
  return run('readwrite', (s) => s.put(device, KEY));
}

export function forgetDevice() {
  return run('readwrite', (s) => s.delete(KEY));
}
