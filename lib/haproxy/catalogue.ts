import { HaproxyServer, HaproxyServerDiscovery, HaproxyService } from './model';

/** Default listen port, check path and timeout of a well-known OpenStack HTTP endpoint. */
export interface OpenStackEndpointDefaults {
  readonly port: number;
  /** GET path that answers 2xx/3xx without a token (version document or oslo.middleware healthcheck). */
  readonly checkPath: string;
  readonly timeoutSeconds: number;
  /** Listen port with TLS, when it is not `port` (the dashboard: 443; its 80 then only redirects). */
  readonly tlsPort?: number;
}

/** API calls can run for minutes (large listings, synchronous Nova/Neutron operations). */
const API_TIMEOUT = 300;
/** Image and object uploads stream gigabytes through the proxy. */
const UPLOAD_TIMEOUT = 6 * 3600;

const api = (port: number, checkPath = '/', timeoutSeconds = API_TIMEOUT): OpenStackEndpointDefaults =>
  ({ port, checkPath, timeoutSeconds });

/**
 * Default ports are the services' own registered ports. Check paths: unauthenticated version documents (some
 * answer 300 Multiple Choices, so checks accept 2xx and 3xx), or `/healthcheck` where the service's default paste
 * pipeline enables oslo.middleware's healthcheck (it answers 503 when an operator disables the node with the
 * healthcheck file, which drains it).
 */
export const OPENSTACK_ENDPOINTS: Readonly<Record<string, OpenStackEndpointDefaults>> = {
  'keystone': api(5000, '/v3'),
  'nova': api(8774),
  'nova-metadata': api(8775),
  'placement': api(8778),
  'neutron': api(9696),
  'glance': api(9292, '/healthcheck', UPLOAD_TIMEOUT),
  'cinder': api(8776, '/healthcheck'),
  'heat': api(8004, '/healthcheck'),
  'heat-cfn': api(8000, '/healthcheck'),
  'swift': api(8080, '/healthcheck', UPLOAD_TIMEOUT),
  'octavia': api(9876),
  'barbican': api(9311),
  'designate': api(9001),
  'ironic': api(6385),
  'manila': api(8786),
  'magnum': api(9511),
  'aodh': api(8042),
  'gnocchi': api(8041, '/healthcheck'),
  // The dashboard answers / with a redirect to the login page; uploads through it go to Glance.
  'horizon': { ...api(80, '/', UPLOAD_TIMEOUT), tlsPort: 443 },
};

/** Servers of one catalogue service, and overrides of its defaults. */
export interface OpenStackServiceOptions {
  readonly servers?: readonly HaproxyServer[];
  readonly discovery?: HaproxyServerDiscovery;
  /** Listen port, when it must differ from the service's default. */
  readonly port?: number;
  readonly checkPath?: string;
  readonly timeoutSeconds?: number;
  /** HAProxy terminates TLS: the default port is the service's TLS port (`tlsPort`). */
  readonly tls?: boolean;
  /** Plain-HTTP port redirecting to HTTPS. */
  readonly redirectPort?: number;
}

/** A service of the catalogue with its defaults; throws on a name that is not in `OPENSTACK_ENDPOINTS`. */
export function openStackService(name: string, options: OpenStackServiceOptions): HaproxyService {
  const defaults = OPENSTACK_ENDPOINTS[name];
  if (!defaults) {
    throw new Error(`"${name}" is not a known OpenStack endpoint; known: ${Object.keys(OPENSTACK_ENDPOINTS).join(', ')}`);
  }
  return {
    name,
    port: options.port ?? (options.tls ? defaults.tlsPort ?? defaults.port : defaults.port),
    mode: 'http',
    httpCheck: { path: options.checkPath ?? defaults.checkPath },
    servers: options.servers ?? [],
    discovery: options.discovery,
    timeoutSeconds: options.timeoutSeconds ?? defaults.timeoutSeconds,
    ...(options.redirectPort !== undefined ? { redirectPort: options.redirectPort } : {}),
  };
}
