/**
 * TLS termination on HaproxyLoadBalancer's API frontends: what is rendered (binds, global TLS options, HSTS,
 * redirect, re-encryption), how the certificate reaches both containers, which names it covers, the `https://`
 * outputs, and the refusals.
 */
import { Chart } from 'cdk8s';
import {
  HaproxyLoadBalancer, HaproxyLoadBalancerProps, KeepalivedVip, LoadBalancedService, OpenStackControlPlane, Placement,
  TlsCertificates,
} from '../lib';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES } from '../lib/haproxy/render';
import { CONTROL_PLANE_PROPS, NODES } from './support/fixtures';
import { errorOf, expectValidManifests, find, newChart, ofKind, synth } from './support/harness';

const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
const VIP_ADDRESS = '10.0.0.10';

const api = (name: string, dns: string, port: number, options: { httpRedirectPort?: number } = {}) =>
  LoadBalancedService.openStackApi(name, { servers: [{ address: `${dns}.openstack.svc`, port }], ...options });

function build(overrides: Partial<HaproxyLoadBalancerProps> = {}, withVip = true) {
  const chart: Chart = newChart('openstack');
  const vip = withVip ? new KeepalivedVip(chart, 'vip', {
    address: VIP_ADDRESS, prefixLength: 24, interface: 'bond0', placement: Placement.onNodes(NODES), virtualRouterId: 51,
  }) : undefined;
  const lb = new HaproxyLoadBalancer(chart, 'lb', {
    placement: Placement.onNodes(NODES),
    vip,
    services: [api('keystone', 'keystone-api', 5000), api('horizon', 'horizon', 80), LoadBalancedService.tcp('octavia-tls', 9877, { servers: [{ address: '10.1.0.9' }] })],
    tls: { certificates: CERT_MANAGER },
    ...overrides,
  });
  return { lb, objects: synth(chart) };
}

const cfgOf = (objects: ReturnType<typeof synth>): string => find(objects, 'ConfigMap', 'lb-config').data['haproxy.cfg'];
const podOf = (objects: ReturnType<typeof synth>) => find(objects, 'DaemonSet', 'lb').spec.template.spec;
const containerOf = (objects: ReturnType<typeof synth>, name: string) => podOf(objects).containers.find((c: any) => c.name === name);
/** The lines of one proxy section (`listen keystone`, `frontend horizon-redirect`). */
const section = (cfg: string, head: string): string[] => {
  const lines = cfg.split('\n');
  const start = lines.indexOf(head);
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines.slice(start, end < 0 ? undefined : end);
};

describe('HaproxyLoadBalancer with tls', () => {
  const { lb, objects } = build({ tls: { certificates: CERT_MANAGER, redirectHttp: true, hostnames: ['api.example.com'] } });
  const cfg = cfgOf(objects);

  test('every API frontend binds with TLS and the mounted certificate; TCP services stay passthrough', () => {
    expect(section(cfg, 'listen keystone')).toContain('  bind 0.0.0.0:5000 ssl crt /etc/haproxy-tls/tls.crt alpn h2,http/1.1');
    // The dashboard moves to 443; its pods still listen on 80.
    expect(section(cfg, 'listen horizon')).toContain('  bind 0.0.0.0:443 ssl crt /etc/haproxy-tls/tls.crt alpn h2,http/1.1');
    expect(section(cfg, 'listen horizon').find((l) => l.includes('server horizon-0'))).toMatch(/horizon\.openstack\.svc\.cluster\.local:80 /);
    expect(section(cfg, 'listen octavia-tls')).toContain('  bind 0.0.0.0:9877');
    expect(section(cfg, 'frontend stats')).toContain('  bind 0.0.0.0:8404');
    expect(lb.portOf('horizon')).toBe(443);
  });

  test('TLS 1.2+ with AEAD ciphers only, no tickets, the key read from the file beside the certificate', () => {
    const global = section(cfg, 'global');
    expect(global).toEqual(expect.arrayContaining([
      `  ssl-default-bind-ciphers ${TLS12_CIPHERS}`,
      `  ssl-default-bind-ciphersuites ${TLS13_CIPHERSUITES}`,
      '  ssl-default-bind-options prefer-client-ciphers ssl-min-ver TLSv1.2 no-tls-tickets',
      '  ssl-default-server-options ssl-min-ver TLSv1.2 no-tls-tickets',
      '  ssl-load-extra-del-ext',
      '  ssl-load-extra-files key',
    ]));
    expect(TLS12_CIPHERS.split(':').every((c) => c.startsWith('ECDHE-') && /GCM|CHACHA20/.test(c))).toBe(true);
  });

  test('HSTS (2 years) and X-Forwarded-Proto on the TLS frontends; the redirect frontend sends 308 to the HTTPS port', () => {
    expect(section(cfg, 'listen keystone')).toEqual(expect.arrayContaining([
      '  http-request set-header X-Forwarded-Proto https',
      '  http-response set-header Strict-Transport-Security "max-age=63072000"',
    ]));
    expect(section(cfg, 'frontend horizon-redirect')).toEqual([
      'frontend horizon-redirect',
      '  bind 0.0.0.0:80',
      '  mode http',
      '  option httplog',
      '  http-request redirect location https://%[req.hdr(host),regsub(:[0-9]+$,)]%[capture.req.uri] code 308',
    ]);
    // Only horizon has a plain port of its own: keystone's 5000 is HTTPS, nothing else redirects.
    expect(cfg.match(/^frontend .*-redirect$/gm)).toEqual(['frontend horizon-redirect']);
    expect(section(cfg, 'listen keystone').join('\n')).not.toMatch(/ ssl verify/);
  });

  test('the certificate covers the VIP, every node address and the hostnames; the URLs are https:// on the first hostname', () => {
    const certificate = find(objects, 'Certificate', 'lb-tls');
    expect(certificate.spec.ipAddresses).toEqual([VIP_ADDRESS, ...NODES.map((n) => n.ip)]);
    expect(certificate.spec.dnsNames).toEqual(['api.example.com']);
    expect(lb.tlsSecretName).toBe('lb-tls');
    expect(lb.endpointUrl('keystone')).toBe('https://api.example.com:5000');
    expect(lb.endpointUrl('horizon')).toBe('https://api.example.com:443');
    expect(() => lb.endpointUrl('octavia-tls')).toThrow(/TCP service/);
  });

  test('the Secret is mounted read-only in both containers, key 0440; the reloader knows the files and the admin socket', () => {
    const volume = podOf(objects).volumes.find((v: any) => v.name === 'tls');
    expect(volume.secret).toEqual({
      secretName: 'lb-tls',
      items: [{ key: 'tls.crt', path: 'tls.crt', mode: 0o444 }, { key: 'tls.key', path: 'tls.key', mode: 0o440 }, { key: 'ca.crt', path: 'ca.crt', mode: 0o444 }],
      defaultMode: 0o444,
    });
    for (const name of ['haproxy', 'reloader']) {
      expect(containerOf(objects, name).volumeMounts).toContainEqual({ name: 'tls', mountPath: '/etc/haproxy-tls', readOnly: true });
    }
    const env = Object.fromEntries(containerOf(objects, 'reloader').env.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({
      HAPROXY_ADMIN_SOCKET: '/var/run/haproxy/admin.sock', HAPROXY_TLS_CERT: '/etc/haproxy-tls/tls.crt', HAPROXY_TLS_KEY: '/etc/haproxy-tls/tls.key',
    });
    // Without re-encryption HAProxy does not use the CA: the reloader does not push it.
    expect(env.HAPROXY_TLS_CA).toBeUndefined();
    // No key material anywhere in the YAML, and the manifests pass the schema and API rules.
    expect(JSON.stringify(objects)).not.toMatch(/PRIVATE KEY/);
    expectValidManifests(objects);
  });

  test('the ports 443 and 80 need NET_BIND_SERVICE (root, as for the dashboard before); nothing else is granted', () => {
    const haproxy = containerOf(objects, 'haproxy');
    expect(haproxy.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
    expect(containerOf(objects, 'reloader').securityContext.capabilities).toEqual({ drop: ['ALL'] });
    const { objects: unprivileged } = build({ services: [api('keystone', 'keystone-api', 5000)] });
    expect(containerOf(unprivileged, 'haproxy').securityContext).toMatchObject({ runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    // The haproxy user reads the 0440 key through the pod's fsGroup.
    expect(podOf(unprivileged).securityContext).toMatchObject({ runAsUser: 99, fsGroup: 99 });
  });
});

describe('HaproxyLoadBalancer tls options', () => {
  test('re-encryption verifies each backend with the CA and its DNS name; a literal IP by chain; the reloader pushes the CA', () => {
    const { objects } = build({
      services: [api('keystone', 'keystone-api', 5000), LoadBalancedService.openStackApi('nova', { servers: [{ address: '10.1.0.5' }] }),
        LoadBalancedService.openStackApi('glance', { discoverFrom: 'glance-api.openstack.svc' })],
      tls: { certificates: CERT_MANAGER, reencrypt: true },
    });
    const cfg = cfgOf(objects);
    expect(section(cfg, 'listen keystone').find((l) => l.startsWith('  server '))).toContain(
      ' ssl verify required ca-file /etc/haproxy-tls/ca.crt sni str(keystone-api.openstack.svc.cluster.local)' +
      ' check-sni keystone-api.openstack.svc.cluster.local verifyhost keystone-api.openstack.svc.cluster.local');
    expect(section(cfg, 'listen nova').find((l) => l.startsWith('  server '))).toMatch(/ ssl verify required ca-file \/etc\/haproxy-tls\/ca\.crt$/);
    expect(section(cfg, 'listen glance').find((l) => l.startsWith('  server-template '))).toContain('verifyhost glance-api.openstack.svc.cluster.local resolvers');
    const env = containerOf(objects, 'reloader').env.find((e: any) => e.name === 'HAPROXY_TLS_CA');
    expect(env.value).toBe('/etc/haproxy-tls/ca.crt');
  });

  test('hsts: false leaves the header out; a custom max-age is rendered; an explicit redirect port works on any API', () => {
    expect(cfgOf(build({ tls: { certificates: CERT_MANAGER, hsts: false } }).objects)).not.toContain('Strict-Transport-Security');
    const { objects } = build({
      services: [api('keystone', 'keystone-api', 5000, { httpRedirectPort: 15000 })],
      tls: { certificates: CERT_MANAGER, redirectHttp: true, hstsMaxAgeSeconds: 86400 },
    });
    const cfg = cfgOf(objects);
    expect(cfg).toContain('http-response set-header Strict-Transport-Security "max-age=86400"');
    expect(section(cfg, 'frontend keystone-redirect')).toEqual(expect.arrayContaining([
      '  bind 0.0.0.0:15000',
      '  http-request redirect location https://%[req.hdr(host),regsub(:[0-9]+$,)]:5000%[capture.req.uri] code 308',
    ]));
    expect(containerOf(objects, 'haproxy').ports.map((p: any) => p.containerPort)).toContain(15000);
  });

  test('without tls nothing changes: plain binds, http:// URLs, no Secret volume, no Certificate', () => {
    const { lb, objects } = build({ tls: undefined });
    const cfg = cfgOf(objects);
    expect(cfg).not.toMatch(/ssl|Strict-Transport|redirect/);
    expect(section(cfg, 'listen horizon')).toContain('  bind 0.0.0.0:80');
    expect(lb.endpointUrl('keystone')).toBe(`http://${VIP_ADDRESS}:5000`);
    expect(ofKind(objects, 'Certificate')).toEqual([]);
    expect(podOf(objects).volumes.map((v: any) => v.name)).not.toContain('tls');
  });

  test('user Secrets: a certificate that misses the VIP or a node is refused with the missing names', () => {
    const certificates = TlsCertificates.fromSecrets({ secrets: [{ component: 'lb', secretName: 'api-cert', covers: ['api.example.com', '10.0.0.11'] }] });
    const message = errorOf(() => build({ tls: { certificates, hostnames: ['api.example.com'] } }));
    expect(message).toContain(`tls: ["${VIP_ADDRESS}","10.0.0.12","10.0.0.13"] are names peers or clients of 'lb' connect to that Secret 'api-cert' does not cover`);
    // Only that problem: the refused certificate adds nothing about paths.
    expect(message.split('\n').filter((l) => l.startsWith('- '))).toHaveLength(1);
    const ok = TlsCertificates.fromSecrets({ secrets: [{ component: 'lb', secretName: 'api-cert', covers: [VIP_ADDRESS, ...NODES.map((n) => n.ip)] }] });
    const { objects } = build({ tls: { certificates: ok } });
    expect(podOf(objects).volumes.find((v: any) => v.name === 'tls').secret.secretName).toBe('api-cert');
    expect(ofKind(objects, 'Certificate')).toEqual([]);
  });

  test('every problem in one error, each with the prop, the value and the fix', () => {
    const message = errorOf(() => build({
      services: [api('keystone', 'keystone-api', 5000, { httpRedirectPort: 8404 })],
      tls: { certificates: {} as any, redirectHttp: 'yes' as any, hsts: false, hstsMaxAgeSeconds: 10, hostnames: ['API.example.com', '*.example.com'] },
    }));
    expect(message).toContain('tls.redirectHttp: "yes" must be true or false');
    expect(message).toContain('services[0].httpRedirectPort: 8404 redirects plain HTTP to HTTPS: it needs tls with redirectHttp: true');
    expect(message).toContain('tls.hstsMaxAgeSeconds: 10 is set while hsts is false; remove one of them');
    expect(message).toContain('tls.hostnames[0]: "API.example.com" must be a lower-case DNS name');
    expect(message).toContain('tls.hostnames[1]: "*.example.com" must be a lower-case DNS name');
    expect(message).toContain('tls.certificates: {} must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)');
    expect(message).toContain('services[0].httpRedirectPort: 8404 is also the port of statsPort');

    expect(errorOf(() => build({ services: [api('keystone', 'keystone-api', 5000, { httpRedirectPort: 15000 })], tls: undefined })))
      .toContain('services[0].httpRedirectPort: 15000 redirects plain HTTP to HTTPS: it needs tls with redirectHttp: true');
    expect(errorOf(() => build({ services: [api('keystone', 'keystone-api', 5000)], tls: { certificates: CERT_MANAGER, redirectHttp: true } })))
      .toContain('tls.redirectHttp: true redirects nothing: no API has a plain port to redirect from');
    expect(errorOf(() => build({ tls: { certificates: CERT_MANAGER, hstsMaxAgeSeconds: 0 } })))
      .toContain('tls.hstsMaxAgeSeconds: 0 must be a whole number of seconds, 1..315360000');
    expect(errorOf(() => build({ services: [LoadBalancedService.tcp('octavia-tls', 9877, { servers: [{ address: '10.1.0.9' }] })] })))
      .toContain('tls: "on" terminates TLS on HTTP services, and there is none');
    expect(errorOf(() => build({ placement: Placement.onLabelledNodes('role', 'lb') }, false)))
      .toContain('tls.hostnames: [] is empty and there is no VIP or node inventory: the certificate would cover no name');
  });
});

describe('OpenStackControlPlane apiTls', () => {
  test('apiEndpoints and keystone\'s URLs in the service configs become https://', () => {
    const chart = newChart('openstack');
    const cp = new OpenStackControlPlane(chart, 'cp', { ...CONTROL_PLANE_PROPS, apiTls: { certificates: CERT_MANAGER } });
    expect(cp.apiEndpoints).toMatchObject({ keystone: `https://${VIP_ADDRESS}:5000`, nova: `https://${VIP_ADDRESS}:8774`, horizon: `https://${VIP_ADDRESS}:443` });
    expect(cp.connection('nova').osloConfig).toContain(`auth_url = https://${VIP_ADDRESS}:5000`);
    const objects = synth(chart);
    expect(find(objects, 'Certificate', 'api-lb-tls').spec.ipAddresses[0]).toBe(VIP_ADDRESS);
    expectValidManifests(objects);
  });
});
