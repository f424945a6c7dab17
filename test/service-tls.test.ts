/**
 * ServiceConfigRenderer's TLS files: the CA bundle and the service's client certificate mounted exactly where the
 * connection's oslo options name them, as projected volumes (the kubelet updates them), the private key group-readable
 * with the fsGroup the pod needs, a cert-manager client certificate that can only authenticate a client, and the
 * refusals (files the connection does not name, half the files, overlapping mounts, bad references) in one error.
 */
import { Chart } from 'cdk8s';
import { OpenStackControlPlane, ServiceClientCertificate, ServiceConfigRenderer, ServiceConfigRendererProps, ServiceConnection, TlsCertificates, TlsTrustBundle } from '../lib';
import { k8s } from '../lib/k8s';
import { CONTROL_PLANE_PROPS } from './support/fixtures';
import { errorOf, expectValidManifests, find, newApp, synth } from './support/harness';
import { expectNamedProblem } from './support/hostile';

const CERT_MANAGER = TlsCertificates.certManager({ issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } });
const ISSUER = { issuer: { name: 'openstack-ca', kind: 'ClusterIssuer' } };

function connection(memcached: 'none' | 'tls' | 'verify', options?: Parameters<OpenStackControlPlane['connection']>[1]): ServiceConnection {
  const chart = new Chart(newApp(), 'cp', { namespace: 'openstack', disableResourceNameHashes: true });
  const cp = new OpenStackControlPlane(chart, 'cp', {
    ...CONTROL_PLANE_PROPS,
    ...(memcached === 'none' ? {} : { memcachedTls: { certificates: CERT_MANAGER, verifyClients: memcached === 'verify' } }),
  });
  return cp.connection('nova', options);
}

/** The renderer in a chart, with a Deployment that uses its outputs, so the whole pod is validated. */
function build(conn: ServiceConnection, props: Partial<ServiceConfigRendererProps> = {}) {
  const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
  const r = new ServiceConfigRenderer(chart, 'ha', { connection: conn, runAsUser: 42424, ...props });
  new k8s.KubeDeployment(chart, 'nova-api', {
    metadata: { name: 'nova-api' },
    spec: {
      selector: { matchLabels: { app: 'nova-api' } },
      template: {
        metadata: { labels: { app: 'nova-api' }, annotations: r.podAnnotations },
        spec: {
          securityContext: { runAsUser: 42424, runAsGroup: 42424, runAsNonRoot: true, ...(r.fsGroup !== undefined ? { fsGroup: r.fsGroup } : {}) },
          initContainers: [r.initContainer],
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'openstack-control-plane', operator: 'In', values: ['enabled'] }] }] } } },
          containers: [{
            name: 'nova-api',
            image: 'quay.io/airshipit/nova:2025.1-ubuntu_jammy',
            volumeMounts: r.volumeMounts,
            resources: {
              requests: { cpu: k8s.Quantity.fromString('250m'), memory: k8s.Quantity.fromString('512Mi') },
              limits: { cpu: k8s.Quantity.fromString('2'), memory: k8s.Quantity.fromString('1Gi') },
            },
            readinessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(8774) } },
            livenessProbe: { tcpSocket: { port: k8s.IntOrString.fromNumber(8774) } },
            securityContext: {
              allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
              capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
            },
          }],
          volumes: r.volumes,
        },
      },
    },
  });
  return { r, objects: synth(chart) };
}

describe('ServiceConfigRenderer TLS files', () => {
  test('without caBundle or clientCertificate: the volumes and mounts of before, no fsGroup', () => {
    const { r } = build(connection('tls'));
    expect(r.volumes.map((v) => v.name)).toEqual(['nova-ha-config-render', 'nova-ha-config']);
    expect(r.volumeMounts).toEqual([r.volumeMount]);
    expect(r.fsGroup).toBeUndefined();
  });

  test('memcached TLS: the CA of a trust-manager ConfigMap at the connection\'s caBundlePath, one key only, public, no fsGroup', () => {
    const conn = connection('tls');
    expect(conn.caBundlePath).toBe('/etc/openstack-ha-tls/ca.crt');
    expect(conn.clientCertificatePath).toBeUndefined();
    const { r, objects } = build(conn, { caBundle: TlsTrustBundle.fromConfigMap('openstack-ca-bundle', 'trust-bundle.pem') });
    expect(r.volumes[2]).toEqual({
      name: 'nova-ha-tls',
      projected: { defaultMode: 0o444, sources: [{ configMap: { name: 'openstack-ca-bundle', items: [{ key: 'trust-bundle.pem', path: 'ca.crt', mode: 0o444 }] } }] },
    });
    expect(r.volumeMounts).toEqual([r.volumeMount, { name: 'nova-ha-tls', mountPath: '/etc/openstack-ha-tls', readOnly: true }]);
    expect(r.fsGroup).toBeUndefined();
    expect(objects.filter((o) => o.kind === 'Certificate')).toEqual([]);
    expectValidManifests(objects);
  });

  test('memcached verifyClients: CA from a Secret key and a cert-manager client certificate beside it; key 0440 and the fsGroup', () => {
    const conn = connection('verify');
    expect([conn.clientCertificatePath, conn.clientKeyPath]).toEqual(['/etc/openstack-ha-tls/tls.crt', '/etc/openstack-ha-tls/tls.key']);
    const { r, objects } = build(conn, { caBundle: TlsTrustBundle.fromSecret('memcached-tls'), clientCertificate: ServiceClientCertificate.certManager(ISSUER) });
    expect(r.volumes[2]).toEqual({
      name: 'nova-ha-tls',
      projected: {
        defaultMode: 0o444,
        sources: [
          { secret: { name: 'memcached-tls', items: [{ key: 'ca.crt', path: 'ca.crt', mode: 0o444 }] } },
          { secret: { name: 'nova-client-tls', items: [{ key: 'tls.crt', path: 'tls.crt', mode: 0o444 }] } },
          { secret: { name: 'nova-client-tls', items: [{ key: 'tls.key', path: 'tls.key', mode: 0o440 }] } },
        ],
      },
    });
    expect(r.fsGroup).toBe(42424);
    const certificate = find(objects, 'Certificate', 'nova-client-tls');
    expect(certificate.metadata.namespace).toBe('openstack');
    expect(certificate.spec).toMatchObject({
      secretName: 'nova-client-tls',
      commonName: 'nova',
      issuerRef: { name: 'openstack-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' },
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
    });
    // A client certificate only: it cannot serve as one of the HA layer's daemons.
    expect(certificate.spec.usages).toEqual(['client auth', 'digital signature']);
    expect(certificate.spec.dnsNames).toBeUndefined();
    expectValidManifests(objects);
  });

  test('files in several directories: one projected volume per directory, a user Secret with its own keys', () => {
    const conn = connection('verify', { caBundlePath: '/etc/pki/ca.pem', clientCertificatePath: '/etc/nova/tls/cert.pem', clientKeyPath: '/etc/nova/tls/key.pem' });
    const { r, objects } = build(conn, {
      caBundle: TlsTrustBundle.fromConfigMap('openstack-ca-bundle'),
      clientCertificate: ServiceClientCertificate.fromSecret('nova-client', 'crt', 'key'),
    });
    expect(r.volumes.slice(2).map((v) => [v.name, v.projected!.sources!.map((s) => s.secret?.items?.[0] ?? s.configMap?.items?.[0])])).toEqual([
      ['nova-ha-tls-0', [{ key: 'ca.crt', path: 'ca.pem', mode: 0o444 }]],
      ['nova-ha-tls-1', [{ key: 'crt', path: 'cert.pem', mode: 0o444 }, { key: 'key', path: 'key.pem', mode: 0o440 }]],
    ]);
    expect(r.volumeMounts.slice(1)).toEqual([
      { name: 'nova-ha-tls-0', mountPath: '/etc/pki', readOnly: true },
      { name: 'nova-ha-tls-1', mountPath: '/etc/nova/tls', readOnly: true },
    ]);
    expect(objects.filter((o) => o.kind === 'Certificate')).toEqual([]);
    expectValidManifests(objects);
  });

  test('the config hash does not depend on where the TLS files come from (they are not in the ConfigMap)', () => {
    const conn = connection('tls');
    expect(build(conn).r.podAnnotations).toEqual(build(conn, { caBundle: TlsTrustBundle.fromSecret('memcached-tls') }).r.podAnnotations);
  });

  test('refused in one error: files the connection does not name, half the files, overlapping mounts, bad references', () => {
    const plain = errorOf(() => build(connection('none'), {
      caBundle: TlsTrustBundle.fromConfigMap('Bad_Name', 'bad key'),
      clientCertificate: ServiceClientCertificate.fromSecret('nova-client', 'same', 'same'),
    }));
    expectNamedProblem(plain, 'caBundle', 'configMap/Bad_Name/bad key');
    expect(plain).toMatch(/caBundle: .* is given but nothing the service reaches has TLS/);
    expect(plain).toMatch(/caBundle: .* names no valid object/);
    expect(plain).toMatch(/caBundle: .* has an invalid key/);
    expect(plain).toMatch(/clientCertificate: .* is given but no daemon the service reaches verifies clients/);
    expect(plain).toMatch(/clientCertificate.privateKeyKey: "same" is the certificate's key too/);

    const half = errorOf(() => build(connection('verify'), { caBundle: TlsTrustBundle.fromSecret('memcached-tls') }));
    expect(half).toMatch(/clientCertificate: \(not set\) is required with caBundle: a daemon the service reaches verifies clients \(memcached or RabbitMQ verifyClients\) and the connection names \/etc\/openstack-ha-tls\/tls.crt/);

    const overlap = errorOf(() => build(connection('tls', { caBundlePath: '/etc/nova/nova.conf.d/tls/ca.crt' }), { caBundle: TlsTrustBundle.fromSecret('memcached-tls') }));
    expect(overlap).toMatch(/mountPath: "\/etc\/nova\/nova.conf.d" overlaps the TLS directory \/etc\/nova\/nova.conf.d\/tls/);

    const nested = errorOf(() => build(connection('verify', { caBundlePath: '/etc/tls/ca.crt', clientCertificatePath: '/etc/tls/nova/tls.crt', clientKeyPath: '/etc/tls/nova/tls.key' }), {
      caBundle: TlsTrustBundle.fromSecret('memcached-tls'), clientCertificate: ServiceClientCertificate.certManager(ISSUER),
    }));
    expect(nested).toMatch(/connection: "\/etc\/tls, \/etc\/tls\/nova" names TLS directories inside one another/);

    const sameFile = errorOf(() => build(connection('verify', { caBundlePath: '/etc/tls/x.pem', clientCertificatePath: '/etc/tls/x.pem' }), {
      caBundle: TlsTrustBundle.fromSecret('memcached-tls'), clientCertificate: ServiceClientCertificate.certManager(ISSUER),
    }));
    expect(sameFile).toMatch(/names one file for two TLS files/);

    const wrongTypes = errorOf(() => build(connection('verify'), { caBundle: { objectName: 'x' } as any, clientCertificate: 'nova-client' as any }));
    expect(wrongTypes).toMatch(/caBundle: "object" must come from TlsTrustBundle.fromConfigMap/);
    expect(wrongTypes).toMatch(/clientCertificate: "string" must come from ServiceClientCertificate.certManager/);

    expect(() => ServiceClientCertificate.certManager({ issuer: { name: '' } })).toThrow(/ServiceClientCertificate.certManager/);
  });
});
