/**
 * ServiceConfigRenderer: what it adds to a service pod, and its init container's command run for real (node) the
 * way the kubelet would run it, from the synthesized ConfigMap and env.
 */
import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-25';
import { ServiceConfigRenderer, ServiceConnection } from '../lib';
import { CONTROLLERS } from '../examples/inventory';
import { OpenStackControlPlaneChart } from '../examples/openstack-control-plane';
import { errorOf, find, newApp, synth } from './support/harness';
import { runInitContainer } from './support/service-config';

function novaConnection(): ServiceConnection {
  return new OpenStackControlPlaneChart(newApp(), 'cp', { controllers: CONTROLLERS }).controlPlane.connection('nova');
}

function renderer(connection: ServiceConnection = novaConnection(), props: Partial<ConstructorParameters<typeof ServiceConfigRenderer>[2]> = {}) {
  const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
  const r = new ServiceConfigRenderer(chart, 'ha', { connection, ...props });
  return { r, objects: synth(chart) };
}

const HOSTILE = {
  'nova-db/password': 'p@ss:w/o%rd?#$HOME&x=1 ;"\'',
  'nova-rabbitmq/password': 'r@bbit,?:pw%2F#',
  'memcache-secret-key/key': ' $sec;ret#"',
};

describe('ServiceConfigRenderer: what the pod gets', () => {
  test('a ConfigMap with the snippet and the Secret of every placeholder, and no secret value', () => {
    const connection = novaConnection();
    const { objects } = renderer(connection);
    const cm = find(objects, 'ConfigMap', 'nova-ha-config');
    expect(cm.data['template.conf']).toBe(connection.osloConfig);
    expect(cm.data['variables.tsv']).toBe('MEMCACHE_SECRET_KEY\tmemcache-secret-key/key\nNOVA_DATABASE_PASSWORD\tnova-db/password\nRABBITMQ_PASSWORD_NOVA\tnova-rabbitmq/password\n');
    for (const value of Object.values(HOSTILE)) expect(JSON.stringify(objects)).not.toContain(value);
  });

  test('an init container reading each Secret key through an optional secretKeyRef, writing to a memory-backed volume', () => {
    const { r } = renderer();
    expect(r.initContainer.env).toEqual([
      { name: 'MEMCACHE_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'memcache-secret-key', key: 'key', optional: true } } },
      { name: 'NOVA_DATABASE_PASSWORD', valueFrom: { secretKeyRef: { name: 'nova-db', key: 'password', optional: true } } },
      { name: 'RABBITMQ_PASSWORD_NOVA', valueFrom: { secretKeyRef: { name: 'nova-rabbitmq', key: 'password', optional: true } } },
    ]);
    expect(r.initContainer.image).toMatch(/^docker\.io\/library\/node:/);
    expect(r.initContainer.securityContext).toMatchObject({ runAsUser: 42424, runAsGroup: 42424, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const output = r.volumes.find((v) => v.emptyDir)!;
    expect(output.emptyDir!.medium).toBe('Memory');
    expect(r.volumeMount).toEqual({ name: output.name, mountPath: '/etc/nova/nova.conf.d', readOnly: true });
    expect(r.configFile).toBe('/etc/nova/nova.conf.d/openstack-ha.conf');
  });

  test('the config hash follows the connection: another broker list rolls the pods; same input, same bytes', () => {
    const a = renderer();
    const b = renderer();
    expect(JSON.stringify(a.objects)).toBe(JSON.stringify(b.objects));
    expect(a.r.podAnnotations).toEqual(b.r.podAnnotations);
    const moved = novaConnection();
    const other = renderer({ ...moved, osloConfig: moved.osloConfig.replace(/10\.0\.0\.13/g, '10.0.0.14') });
    expect(Object.values(other.r.podAnnotations)[0]).not.toBe(Object.values(a.r.podAnnotations)[0]);
  });

  test('bad props fail together, each with the fix', () => {
    const connection = novaConnection();
    const m = errorOf(() => renderer({ ...connection, secretReferences: { ...connection.secretReferences, MEMCACHE_SECRET_KEY: 'no-slash' }, osloConfig: `${connection.osloConfig}x = @@UNKNOWN@@\n` },
      { mountPath: 'etc/nova', fileName: '../x', runAsUser: 0, name: 'Nova' }));
    for (const problem of [
      "ServiceConfigRenderer 'ha' has invalid props:",
      'name: "Nova" is not usable as an object name',
      'mountPath: "etc/nova" must be an absolute path',
      'fileName: "../x" must be a plain file name',
      'runAsUser: 0 must be a non-root uid',
      'connection.secretReferences: "UNKNOWN" is a placeholder of osloConfig with no Secret reference',
      'connection.secretReferences.MEMCACHE_SECRET_KEY: "no-slash" must be "secret-name/key"',
    ]) expect(m).toContain(problem);
  });

  test('cdk8s-plus: the same parts go into a plus Deployment through JSON patches', () => {
    const chart = new Chart(newApp(), 'svc', { namespace: 'openstack', disableResourceNameHashes: true });
    const ha = new ServiceConfigRenderer(chart, 'ha', { connection: novaConnection() });
    const deployment = new kplus.Deployment(chart, 'nova-api', { containers: [{ image: 'nova', portNumber: 8774 }] });
    const o = ApiObject.of(deployment);
    o.addJsonPatch(JsonPatch.add('/spec/template/spec/initContainers', [ha.initContainer]));
    o.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes', ha.volumes));
    o.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/volumeMounts', [ha.volumeMount]));
    const pod = find(synth(chart), 'Deployment', deployment.name).spec.template.spec;
    expect(pod.initContainers[0]).toMatchObject({ name: 'nova-ha-config', resources: { limits: { memory: '64Mi' } } });
    expect(pod.volumes.map((v: any) => v.name)).toEqual(['nova-ha-config-render', 'nova-ha-config']);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'nova-ha-config', mountPath: '/etc/nova/nova.conf.d', readOnly: true }]);
  });
});

describe('ServiceConfigRenderer: the init container, run', () => {
  test('passwords are percent-encoded inside URLs and written as is elsewhere ($ doubled for oslo.config, quoted at the edges)', () => {
    const { r, objects } = renderer();
    const run = runInitContainer(r, objects, HOSTILE);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const text = run.output!.text;
    expect(text).not.toContain('@@');
    const db = /^connection = (.*)$/m.exec(text)![1];
    const password = decodeURIComponent(/^mysql\+pymysql:\/\/nova:([^@]*)@/.exec(db)![1]);
    expect(password).toBe(HOSTILE['nova-db/password']);
    const rpc = /^transport_url = rabbit:\/\/(.*)\/$/m.exec(text)![1];
    expect(rpc.split(',')).toHaveLength(3);
    for (const host of rpc.split(',')) expect(decodeURIComponent(/^nova:([^@]*)@/.exec(host)![1])).toBe(HOSTILE['nova-rabbitmq/password']);
    expect(text).toContain('memcache_secret_key = " $$sec;ret#""\n');
    expect(run.output!.mode).toBe(0o440);
    expect(run.leftovers).toEqual(['openstack-ha.conf']);
  });

  test('a missing Secret key fails it with the variable\'s name, an empty one and a line break too; nothing is written', () => {
    const { r, objects } = renderer();
    const run = runInitContainer(r, objects, { 'nova-db/password': 'x', 'memcache-secret-key/key': 'a\nb', 'nova-rabbitmq/password': '' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('RABBITMQ_PASSWORD_NOVA is empty (Secret nova-rabbitmq/password)');
    expect(run.stderr).toContain('MEMCACHE_SECRET_KEY holds a line break');
    expect(run.output).toBeUndefined();
    const missing = runInitContainer(r, objects, { 'nova-db/password': 'x', 'memcache-secret-key/key': 'k' });
    expect(missing.stderr).toBe('render: RABBITMQ_PASSWORD_NOVA is not set: Secret nova-rabbitmq/password is missing (no such Secret or key)\n');
    expect(missing.leftovers).toEqual([]);
  });

  test('a \'/\' in a RabbitMQ password is refused (oslo.messaging passes it to kombu unescaped); in a database password it is fine', () => {
    const { r, objects } = renderer();
    const run = runInitContainer(r, objects, { ...HOSTILE, 'nova-rabbitmq/password': 'a/b' });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe("render: RABBITMQ_PASSWORD_NOVA holds a '/' (Secret nova-rabbitmq/password), which oslo.messaging cannot pass to RabbitMQ in a transport URL; use a password without '/'\n");
    expect(HOSTILE['nova-db/password']).toContain('/');
  });
});
