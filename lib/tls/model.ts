/**
 * What a component asks of a certificate (the names its peers and clients connect to) and what it gets (a Secret
 * and its keys), as plain data. No cdk8s here: the construct side is tls-certificates.ts.
 */

/** A component's certificate request: the construct that mounts it says which names it must cover. */
export interface TlsCertificateRequest {
  /** The component's `name` (the base name of its objects). */
  readonly component: string;
  readonly namespace?: string;
  /** DNS names peers and clients connect to: member names, Service names. */
  readonly dnsNames: readonly string[];
  /** IP addresses peers or clients connect to (host-network daemons, the VIP). */
  readonly ipAddresses: readonly string[];
}

/** Where a component's certificate is: a Secret and the keys of its three PEM files. */
export interface TlsMaterial {
  readonly secretName: string;
  readonly certificateKey: string;
  readonly privateKeyKey: string;
  readonly caKey: string;
}

/** The file names inside the mounted directory, whatever the Secret's keys are called. */
export const TLS_FILES = { certificate: 'tls.crt', privateKey: 'tls.key', ca: 'ca.crt' } as const;

/** The defaults of a cert-manager Certificate (Go durations, as cert-manager reads them). */
export const CERT_MANAGER_DEFAULTS = { duration: '2160h', renewBefore: '720h', issuerKind: 'Issuer', issuerGroup: 'cert-manager.io' } as const;

/** The Certificate (and its Secret) of a component: `<component>-tls`. */
export function certificateName(component: string): string {
  return `${component}-tls`;
}

/**
 * A component's client certificate request: who connects (the name the servers check), not where. E.g. GaleraBackup's
 * job, which the members' backup sidecars admit by this name.
 */
export interface TlsClientCertificateRequest {
  /** The component's `name`: its user Secret is the one listed for it, its cert-manager Certificate `<component>-client-tls`. */
  readonly component: string;
  readonly namespace?: string;
  /** The name the certificate must carry (common name; a user's certificate may carry it as a DNS name). */
  readonly clientName: string;
  /** What uses it and who checks it, for messages (e.g. "the backup job's certificate, which the sidecars require"). */
  readonly purpose: string;
}

/** The Certificate (and its Secret) of a client certificate: `<name>-client-tls`. */
export function clientCertificateName(name: string): string {
  return `${name}-client-tls`;
}

/** The names a Service is reached by inside the cluster: `svc`, `svc.ns`, `svc.ns.svc` (no cluster domain: it varies). */
export function serviceDnsNames(service: string, namespace: string | undefined): string[] {
  return namespace ? [service, `${service}.${namespace}`, `${service}.${namespace}.svc`] : [service];
}

/**
 * Whether a certificate name (a SAN as written: exact, or `*.` wildcard for one left-most label) covers `name`.
 * DNS names compare case-insensitively; an IP matches only itself.
 */
export function covers(san: string, name: string): boolean {
  const a = san.toLowerCase();
  const b = name.toLowerCase();
  if (a === b) return true;
  if (!a.startsWith('*.')) return false;
  const dot = b.indexOf('.');
  return dot > 0 && b.slice(dot) === a.slice(1) && !/^[0-9.]+$/.test(b) && !b.includes(':');
}

/** The names of a request that none of `sans` covers, in the request's order. */
export function uncoveredNames(request: TlsCertificateRequest, sans: readonly string[]): string[] {
  return [...request.dnsNames, ...request.ipAddresses].filter((name) => !sans.some((san) => covers(san, name)));
}

/** Seconds in a Go duration of hours/minutes/seconds (`2160h`, `1h30m`); undefined when it is not one. */
export function goDurationSeconds(duration: string): number | undefined {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!match || duration === '') return undefined;
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}

/**
 * TLS 1.2 ciphers: Mozilla's "intermediate" profile without the DHE suites (ECDHE only: forward secrecy without a
 * DH parameter file), AEAD only (GCM, ChaCha20-Poly1305). Every client of the last decade offers one of them.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
/** TLS 1.3 suites (all three are AEAD; listed so the set is explicit, not whatever the OpenSSL build defaults to). */
export const TLS13_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
