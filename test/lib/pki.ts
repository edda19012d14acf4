// Test certificates made with openssl in a test directory: ECDSA P-256 throughout. A root CA, an
// intermediate CA, two server certificates issued by the intermediate (served with it as their
// chain, for SNI tests), a self-signed server certificate, and a client certificate from the root.
// Key files are mode 0600: the daemon refuses group- or world-readable keys, as OpenSMTPD does.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestPki {
  dir: string;
  /** Root CA certificate (trust anchor for servers and clients). */
  caFile: string;
  /** Server certificates: `certFile` = leaf + intermediate chain. */
  servers: Record<string, { certFile: string; keyFile: string }>;
  /** A self-signed certificate for `selfSignedName`. */
  selfSigned: { certFile: string; keyFile: string };
  client: { certFile: string; keyFile: string };
  /** A client certificate from a CA the server does not trust. */
  strangerClient: { certFile: string; keyFile: string };
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function ossl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe', timeout: 30_000 });
}

/** Makes the test PKI in `dir` for the given server names (the first also gets IP 127.0.3.1). */
export function makeTestPki(dir: string, serverNames: string[], selfSignedName: string): TestPki {
  const f = (n: string): string => path.join(dir, n);
  ossl(['req', '-x509', ...EC, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=tsmtpd test root CA']);
  ossl(['req', '-x509', ...EC, '-keyout', f('stranger-ca.key'), '-out', f('stranger-ca.pem'), '-days', '2', '-subj', '/CN=stranger CA']);
  const issue = (name: string, subj: string, ext: string, ca: string): void => {
    ossl(['req', ...EC, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subj]);
    writeFileSync(f(`${name}.ext`), ext);
    ossl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${ca}.pem`), '-CAkey', f(`${ca}.key`), '-CAcreateserial', '-days', '2', '-out', f(`${name}.pem`), '-extfile', f(`${name}.ext`)]);
    chmodSync(f(`${name}.key`), 0o600);
  };
  issue('inter', '/CN=tsmtpd test intermediate CA', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n', 'ca');
  const servers: TestPki['servers'] = {};
  serverNames.forEach((name, i) => {
    const san = `DNS:${name}${i === 0 ? ',IP:127.0.3.1' : ''}`;
    issue(name, `/CN=${name}`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`, 'inter');
    // The chain a server sends: its certificate, then the intermediate.
    writeFileSync(f(`${name}-chain.pem`), readFileSync(f(`${name}.pem`), 'utf8') + readFileSync(f('inter.pem'), 'utf8'));
    servers[name] = { certFile: f(`${name}-chain.pem`), keyFile: f(`${name}.key`) };
  });
  ossl(['req', '-x509', ...EC, '-keyout', f('self.key'), '-out', f('self.pem'), '-days', '2', '-subj', `/CN=${selfSignedName}`, '-addext', `subjectAltName=DNS:${selfSignedName}`]);
  chmodSync(f('self.key'), 0o600);
  issue('client', '/CN=client.tls.test', 'extendedKeyUsage=clientAuth\n', 'ca');
  issue('stranger', '/CN=stranger.tls.test', 'extendedKeyUsage=clientAuth\n', 'stranger-ca');
  return {
    dir, caFile: f('ca.pem'), servers,
    selfSigned: { certFile: f('self.pem'), keyFile: f('self.key') },
    client: { certFile: f('client.pem'), keyFile: f('client.key') },
    strangerClient: { certFile: f('stranger.pem'), keyFile: f('stranger.key') },
  };
}
