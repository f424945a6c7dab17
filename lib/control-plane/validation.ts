/**
 * The construct-time check of `OpenStackControlPlaneProps`: one error naming every problem (prop, bad value, fix),
 * before any part is built (each part checks its own props again, with its own names).
 */
import { DEFAULT_OPENSTACK_RELEASE, OpenStackRelease, validateOpenStackRelease } from '../common/openstack-release';
import { Placement } from '../common/placement';
import { isDns1035Label, isLabelValue, isQualifiedName, validateLabels } from '../common/k8s-rules';
import { validateSecretValue } from '../common/secret';
import { Validator, duplicates, isIpAddress } from '../common/validation';
import { OsloMessaging } from '../rabbitmq/oslo';
import { RabbitVersion } from '../rabbitmq/version';
import { reservedVipAddress } from '../keepalived/validation';
import { validateAlternateAccount } from './accounts';
import { ControlPlaneSecrets, OpenStackControlPlaneProps } from './props';
import { ResolvedControlPlaneTls, controlPlaneTlsProblems, resolveControlPlaneTls } from './tls';

/** Every secret of `ControlPlaneSecrets`, each required. */
const SECRET_KEYS: ReadonlyArray<keyof ControlPlaneSecrets> = ['galeraRootPassword', 'galeraSstPassword', 'galeraMonitorPassword',
  'proxySqlAdminPassword', 'rabbitErlangCookie', 'rabbitAdminPassword', 'memcacheSecretKey'];

/** Account names the HA layer uses itself: a service of that name would share (or be refused) its account. */
const RESERVED_SERVICE_NAMES: Record<string, string> = {
  admin: 'RabbitMQ administrator account of the control plane',
  guest: 'built-in RabbitMQ account, usable from localhost only',
  root: 'MariaDB superuser',
  monitor: 'Galera monitor account (ProxySQL\'s health checks)',
  mariabackup: 'Galera state-transfer (SST) account',
};

/** The first release line whose keystonemiddleware (10.10) can reach a TLS memcached for its token cache. */
const FIRST_MEMCACHE_TLS_RELEASE = OpenStackRelease.V2025_2;

/** What the check resolves on the way, which the construct uses. */
export interface CheckedControlPlane {
  /** Each part's TLS options, from `tls` and the per-component props. */
  readonly tls: ResolvedControlPlaneTls;
  /** The OpenStack release line: `openStackRelease`, or the default. */
  readonly release: OpenStackRelease;
}

/** Throws one error listing every problem of `props`; `namespace` is the chart's. */
export function validateControlPlaneProps(id: string, namespace: string | undefined, props: OpenStackControlPlaneProps): CheckedControlPlane {
  const controllers = props.controllers;
  const v = new Validator(`OpenStackControlPlane '${id}'`);
  v.check(namespace === undefined, 'namespace', undefined, 'is not set; give the chart a namespace (the control plane creates it)');
  Placement.onNodes(controllers)._validate(v, 'controllers');
  v.check(controllers.length < 3, 'controllers', controllers.map((n) => n.name),
    `are ${controllers.length}; an HA control plane needs at least 3 controllers`);
  v.check(!isIpAddress(props.vip.address), 'vip.address', props.vip.address, 'is not an IP address');
  v.check(props.memcachedWarmRestart !== undefined && typeof props.memcachedWarmRestart !== 'boolean', 'memcachedWarmRestart', props.memcachedWarmRestart,
    'must be true or false');
  v.check(controllers.some((n) => n.ip === props.vip.address), 'vip.address', props.vip.address,
    'is a controller\'s own address; the VIP must be a free address on the controllers\' network');
  if (props.vip.nodeLabel !== undefined) {
    const { key, value } = props.vip.nodeLabel;
    v.check(!isQualifiedName(key ?? ''), 'vip.nodeLabel.key', key,
      'is not a valid label key; use an optional DNS prefix and a name, e.g. "openstack-ha.cdk8s.io/edge"');
    v.check(!isLabelValue(value ?? ''), 'vip.nodeLabel.value', value, 'is not a valid label value; use at most 63 letters, digits, "-", "_" or ".", e.g. "true"');
  }
  const reserved = reservedVipAddress(props.vip.address, props.vip.prefixLength ?? 24);
  if (reserved) v.add('vip.address', props.vip.address, reserved);
  // Every secret now, so that a missing one is named here rather than surfacing as a TypeError in connection().
  for (const key of SECRET_KEYS) validateSecretValue(v, `secrets.${key}`, (props.secrets ?? {})[key]);
  for (const dup of duplicates(props.services.map((s) => s.name))) {
    v.add('services', dup, 'is listed more than once; list each service once');
  }
  props.services.forEach((s, i) => {
    const databases = s.databases ?? [s.name];
    v.check(databases.length > 0 && s.databasePassword === undefined, `services[${i}].databasePassword`, undefined,
      `is missing for ${s.name}, which has databases ${JSON.stringify(databases)}; reference its database user's Secret`);
    if (s.databasePassword !== undefined) validateSecretValue(v, `services[${i}].databasePassword`, s.databasePassword);
    if (s.messagingPassword !== undefined) validateSecretValue(v, `services[${i}].messagingPassword`, s.messagingPassword);
    validateAlternateAccount(v, props.services, i);
    const reservedName = RESERVED_SERVICE_NAMES[s.name];
    if (reservedName) v.add(`services[${i}].name`, s.name, `is the ${reservedName}; a service's database and messaging users take its name, so use another`);
    // They select the service's pods in ProxySQL's NetworkPolicy: Kubernetes must accept them.
    validateLabels(v, s.podLabels ? `services[${i}].podLabels` : `services[${i}].name (the default podLabels {"application": name})`,
      s.podLabels ?? { application: s.name });
    if (s.api) {
      // Qualified as <serviceName>.<namespace>.svc: a dotted name would point into another namespace or domain.
      v.check(!isDns1035Label(s.api.serviceName), `services[${i}].api.serviceName`, s.api.serviceName,
        `must be the name of a Service in the control plane's namespace ${JSON.stringify(namespace ?? '')}: a DNS-1035 label ` +
        '(lower-case letters, digits and "-", starting with a letter, at most 63), without a namespace or domain, e.g. "nova-api"');
    }
  });
  const tlsInput = {
    tls: props.tls, apiTls: props.apiTls, memcachedTls: props.memcachedTls, rabbitmqTls: props.rabbitmqTls, proxySqlTls: props.proxySqlTls,
    galeraTls: props.galeraTls, apis: props.services.filter((s) => s.api !== undefined).map((s) => ({ name: s.name, port: s.api!.port })),
  };
  const tls = resolveControlPlaneTls(tlsInput);
  for (const p of controlPlaneTlsProblems(tlsInput, tls)) v.add(p.field, p.value, p.fix);
  const release = props.openStackRelease ?? DEFAULT_OPENSTACK_RELEASE;
  if (validateOpenStackRelease(v, 'openStackRelease', release)) {
    OsloMessaging._validateRelease(v, 'openStackRelease', props.rabbitVersion ?? RabbitVersion.V4_1, release);
    const lines = OpenStackRelease.all();
    v.check(tls.memcached !== undefined && lines.indexOf(release) < lines.indexOf(FIRST_MEMCACHE_TLS_RELEASE), tls.from.memcached, release.line,
      `needs openStackRelease ${FIRST_MEMCACHE_TLS_RELEASE.line} or later: keystonemiddleware before 10.10 has no TLS for its token cache ` +
      'and would talk plaintext to a TLS-only memcached (every token validation a cache miss); upgrade the services, or ' +
      (tls.from.memcached === 'tls' ? 'give the other components their per-component TLS props instead of tls' : 'remove memcachedTls'));
  }
  v.throwIfInvalid();
  return { tls, release };
}
