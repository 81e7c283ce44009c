/**
 * A throwaway certificate authority for SIP over TLS tests (openssl on PATH): a CA and a server
 * certificate it signed for 127.0.0.1 / localhost. `testCaSkipReason()` is the one-line reason a
 * TLS test skips without openssl.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function testCaSkipReason(): string | null {
  const res = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 10_000 });
  return res.error || res.status !== 0 ? 'openssl not found on PATH' : null;
}

export interface TestCa {
  caFile: string;
  keyFile: string;
  certFile: string;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30_000 });
  if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr}`);
}

export function makeTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'knock-test-ca-'));
  const ext = join(dir, 'server.ext');
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Knock test CA'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', ext], dir);
  return {
    caFile: join(dir, 'ca.pem'),
    keyFile: join(dir, 'server.key'),
    certFile: join(dir, 'server.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
