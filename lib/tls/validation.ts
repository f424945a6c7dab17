/**
 * Every rule of TlsCertificates: the options at construction (cert-manager issuer and durations, the Secrets a
 * user brings), and each component's request when a construct asks for its certificate (a Secret for it, every
 * name covered). Problems go to the caller's Validator, so one error lists them all.
 */
import { predicates } from '../../plugins/k8s-api-rules';
import { FieldProblem, duplicates, fieldProblems, isDns1123Label, isDns1123Subdomain, isIpAddress } from '../common/validation';
import { TlsCertificateRequest, TlsClientCertificateRequest, goDurationSeconds, uncoveredNames } from './model';
import { CertManagerTlsOptions, TlsSecret, TlsSecretsOptions } from './props';

/** cert-manager refuses a Certificate shorter than this (its webhook: `spec.duration` >= 1h). */
const MIN_DURATION_SECONDS = 3600;

export function certManagerProblems(options: CertManagerTlsOptions): FieldProblem[] {
  const { problems, check } = fieldProblems();
  const issuer = options?.issuer;
  if (!check(issuer === undefined || issuer === null, 'issuer', issuer, 'is required: the name (and kind) of the cert-manager Issuer or ClusterIssuer that signs every component')) {
    check(typeof issuer.name !== 'string' || !isDns1123Subdomain(issuer.name), 'issuer.name', issuer.name, 'must be a DNS-1123 subdomain (a Kubernetes object name)');
    check(issuer.kind !== undefined && (typeof issuer.kind !== 'string' || !/^[A-Z][A-Za-z0-9]*$/.test(issuer.kind)), 'issuer.kind', issuer.kind,
      "must be a Kubernetes kind such as 'Issuer' or 'ClusterIssuer'");
    check(issuer.group !== undefined && (typeof issuer.group !== 'string' || !isDns1123Subdomain(issuer.group)), 'issuer.group', issuer.group,
      "must be an API group such as 'cert-manager.io'");
  }
  const duration = options?.duration === undefined ? 2160 * 3600 : durationProblem(check, 'duration', options.duration);
  const renewBefore = options?.renewBefore === undefined ? 720 * 3600 : durationProblem(check, 'renewBefore', options.renewBefore);
  if (duration !== undefined) check(duration < MIN_DURATION_SECONDS, 'duration', options?.duration, 'must be at least 1h (cert-manager refuses shorter certificates)');
  if (duration !== undefined && renewBefore !== undefined) {
    check(renewBefore <= 0 || renewBefore >= duration, 'renewBefore', options?.renewBefore,
      `must be more than 0 and less than duration (${options?.duration ?? '2160h'}), or cert-manager renews the certificate in a loop`);
  }
  return problems;
}

function durationProblem(check: ReturnType<typeof fieldProblems>['check'], field: string, value: unknown): number | undefined {
  const seconds = typeof value === 'string' ? goDurationSeconds(value) : undefined;
  check(seconds === undefined, field, value, "must be a duration in hours, minutes, seconds as cert-manager reads it, e.g. '2160h' or '1h30m'");
  return seconds;
}

export function tlsSecretsProblems(options: TlsSecretsOptions): FieldProblem[] {
  const { problems, check } = fieldProblems();
  const secrets = options?.secrets;
  if (check(!Array.isArray(secrets) || secrets.length === 0, 'secrets', secrets, 'must list at least one Secret, one per component that uses TLS')) return problems;
  secrets.forEach((s, i) => {
    const at = `secrets[${i}]`;
    if (check(s === undefined || s === null || typeof s !== 'object', at, s, 'must be a TlsSecret')) return;
    check(typeof s.component !== 'string' || !isDns1123Label(s.component), `${at}.component`, s.component,
      'must be the name of the construct that uses it (a DNS-1123 label, e.g. galera)');
    check(typeof s.secretName !== 'string' || !isDns1123Subdomain(s.secretName), `${at}.secretName`, s.secretName, 'must be a Secret name (DNS-1123 subdomain)');
    const keys = secretKeys(s);
    for (const [field, key] of Object.entries(keys)) {
      check(typeof key !== 'string' || !predicates.isConfigMapKey(key), `${at}.${field}`, key, "must be a Secret key ([-._a-zA-Z0-9]+), e.g. 'tls.crt'");
    }
    check(duplicates(Object.values(keys)).length > 0, at, keys, 'certificateKey, privateKeyKey and caKey must be three different keys of the Secret');
    if (!check(!Array.isArray(s.covers) || s.covers.length === 0, `${at}.covers`, s.covers,
      'must list every DNS name and IP the certificate is valid for (its subject alternative names)')) {
      s.covers.forEach((name, j) => check(typeof name !== 'string' || !isSubjectAltName(name), `${at}.covers[${j}]`, name,
        "must be a DNS name, a '*.' wildcard DNS name, or an IP address"));
    }
  });
  const components = secrets.map((s) => s?.component);
  check(duplicates(components).length > 0, 'secrets', duplicates(components), 'name a component more than once: give each component one Secret');
  return problems;
}

/** The three keys with their defaults. */
export function secretKeys(s: TlsSecret): { certificateKey: string; privateKeyKey: string; caKey: string } {
  return { certificateKey: s.certificateKey ?? 'tls.crt', privateKeyKey: s.privateKeyKey ?? 'tls.key', caKey: s.caKey ?? 'ca.crt' };
}

function isSubjectAltName(name: string): boolean {
  if (isIpAddress(name)) return true;
  const dns = name.startsWith('*.') ? name.slice(2) : name;
  return dns.length > 0 && isDns1123Subdomain(dns.toLowerCase());
}

/** Problems of a component's request against the certificate a user brought for it (or the lack of one). */
export function userSecretProblems(request: TlsCertificateRequest, secret: TlsSecret | undefined, known: readonly string[]): FieldProblem[] {
  const { problems, check } = fieldProblems();
  if (check(secret === undefined, 'tls', request.component,
    `has no certificate: add { component: '${request.component}', secretName, covers } to TlsCertificates.fromSecrets (it lists ${known.length > 0 ? known.join(', ') : 'none'})`)) {
    return problems;
  }
  const missing = uncoveredNames(request, secret!.covers);
  check(missing.length > 0, 'tls', missing,
    `are names peers or clients of '${request.component}' connect to that Secret '${secret!.secretName}' does not cover: reissue the certificate with them and add them to covers`);
  return problems;
}

/**
 * Problems of a component's client certificate request against the Secret a user brought for it (or the lack of
 * one): it must name the client (its common name or a DNS name, listed in `covers`), exactly: the servers compare it.
 */
export function userClientSecretProblems(request: TlsClientCertificateRequest, secret: TlsSecret | undefined, known: readonly string[]): FieldProblem[] {
  const { problems, check } = fieldProblems();
  const entry = `{ component: '${request.component}', secretName, covers: ['${request.clientName}'] }`;
  if (check(secret === undefined, 'tls', request.component,
    `has no client certificate: add ${entry} to TlsCertificates.fromSecrets (it lists ${known.length > 0 ? known.join(', ') : 'none'}): ${request.purpose}, signed by the same CA as the servers, named '${request.clientName}', usable for client authentication`)) {
    return problems;
  }
  const names = secret!.covers.map((n) => (typeof n === 'string' ? n.toLowerCase() : n));
  check(!names.includes(request.clientName.toLowerCase()), 'tls', secret!.covers,
    `is what Secret '${secret!.secretName}' of '${request.component}' names, without '${request.clientName}': ${request.purpose}; reissue it with '${request.clientName}' as its common name (or a DNS name) and add it to covers`);
  return problems;
}
