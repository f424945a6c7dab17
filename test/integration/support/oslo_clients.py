"""The real OpenStack client libraries (Debian's python3-oslo.*, python3-keystonemiddleware) against rendered
service config files. Run by the integration tests with /usr/bin/python3; every command prints one JSON object.

  config <file>...            parse each file with oslo.config's own parser, list every option the libraries do
                              not register, and return the values the libraries read (URL passwords unquoted)
  messaging <file> <seconds>  oslo.messaging: an RPC server and client on [DEFAULT] transport_url, a notifier on
                              [oslo_messaging_notifications]; calls every 0.1 s for <seconds>, reports round trips
                              and failures (the test stops brokers meanwhile); sends notifications
  db <file> <seconds>         oslo.db: an engine from [database] connection; writes a row per 0.1 s for
                              <seconds> through oslo.db's retry decorator, reports each outcome
  cache <file>                oslo.cache ([cache]) and keystonemiddleware's token cache ([keystone_authtoken],
                              ENCRYPT): a value set through each, and which servers hold keys
  tlscache <file>             oslo.cache alone ([cache] with tls_*): the backend and TLS context it builds, and 30
                              values set and read through it (or the error)
"""
import json
import sys
import time
import urllib.parse

from oslo_config import cfg


def option_sources(auth_plugin=True):
    """(group, options) as the libraries register them; group None is DEFAULT.

    auth_plugin: also keystone_authtoken's `password` auth plugin options (auth_url, ...), which keystonemiddleware
    registers when it loads the plugin a deployment names with auth_type. For name checks only: a ConfigOpts with
    them requires auth_url.
    """
    from keystoneauth1 import loading
    import keystonemiddleware.auth_token._opts as auth_token_opts
    import oslo_cache._opts as cache_opts
    import oslo_db.options as db_opts
    from oslo_messaging import opts as messaging_opts

    from oslo_messaging._metrics import client as metrics

    sources = [*messaging_opts.list_opts(), *db_opts.list_opts(), *cache_opts.list_opts(), *auth_token_opts.list_opts()]
    # The RPC client reads [oslo_messaging_metrics], which list_opts() leaves out (services register it on import).
    sources.append(('oslo_messaging_metrics', metrics.oslo_messaging_metrics))
    return sources + ([('keystone_authtoken', loading.get_auth_plugin_conf_options('password'))] if auth_plugin else [])


def registered_options():
    """group name -> option names."""
    groups = {}
    for group, opts in option_sources():
        groups.setdefault(getattr(group, 'name', group) or 'DEFAULT', set()).update(o.dest for o in opts)
    return groups


def new_conf(files):
    conf = cfg.ConfigOpts()
    for group, opts in option_sources(auth_plugin=False):
        conf.register_opts(opts, group=group)
    conf(args=[], default_config_files=list(files), default_config_dirs=[])
    return conf


def url_passwords(url):
    """Unquoted passwords of every host of a transport URL, as oslo.messaging parses it."""
    import oslo_messaging
    parsed = oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)
    return [h.password for h in parsed.hosts], parsed.virtual_host, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def check_config(files):
    groups = registered_options()
    result = {}
    for path in files:
        sections = {}
        cfg.ConfigParser(path, sections).parse()
        unknown = sorted(f'{section}.{key}' for section, options in sections.items() for key in options
                         if key not in groups.get(section, set()) and key not in groups['DEFAULT'])
        conf = new_conf([path])
        values = {}
        if sections.get('DEFAULT', {}).get('transport_url'):
            passwords, vhost, query = url_passwords(conf.transport_url)
            values['rpc'] = {'passwords': passwords, 'vhost': vhost, 'query': query}
            passwords, vhost, query = url_passwords(conf.oslo_messaging_notifications.transport_url)
            values['notifications'] = {'passwords': passwords, 'vhost': vhost, 'query': query}
            # URL query options are [oslo_messaging_rabbit] overrides: they must be known options too.
            unknown += sorted(f'oslo_messaging_rabbit.{k} (notifications URL)' for k in query if k not in groups['oslo_messaging_rabbit'])
        if 'database' in sections:
            from sqlalchemy.engine.url import make_url
            values['database'] = [make_url(conf.database.connection).password, make_url(conf.database.slave_connection).password]
        values['memcache_secret_key'] = conf.keystone_authtoken.memcache_secret_key
        values['memcache_servers'] = conf.cache.memcache_servers
        result[path] = {'unknown': unknown, 'values': values}
    from importlib.metadata import version
    libraries = ['oslo.config', 'oslo.messaging', 'oslo.db', 'oslo.cache', 'keystonemiddleware', 'SQLAlchemy', 'PyMySQL']
    return {'versions': {name: version(name) for name in libraries}, 'files': result}


def messaging(path, seconds):
    import logging
    import oslo_messaging
    # The libraries' own warnings (reconnects, failed sends) go to stderr, for the test's failure messages.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = new_conf([path])
    transport = oslo_messaging.get_rpc_transport(conf)
    target = oslo_messaging.Target(topic='itest', server='server-1')

    class Endpoint:
        def echo(self, ctxt, value):
            return value

    server = oslo_messaging.get_rpc_server(transport, target, [Endpoint()], executor='threading')
    server.start()
    client = oslo_messaging.get_rpc_client(transport, oslo_messaging.Target(topic='itest'), timeout=5) \
        if hasattr(oslo_messaging, 'get_rpc_client') else oslo_messaging.RPCClient(transport, oslo_messaging.Target(topic='itest'), timeout=5)
    calls = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        # Wall-clock start (the test compares it with when it stopped a broker), monotonic duration.
        t0, m0 = time.time(), time.monotonic()
        try:
            ok = client.call({}, 'echo', value=i) == i
            calls.append({'t': t0, 'ms': (time.monotonic() - m0) * 1000, 'ok': ok})
        except Exception as e:  # noqa: BLE001 - every failure is a data point
            calls.append({'t': t0, 'ms': (time.monotonic() - m0) * 1000, 'ok': False, 'error': type(e).__name__})
        i += 1
        sys.stderr.write(f'call {i} {calls[-1]}\n')
        time.sleep(0.1)
    notification_transport = oslo_messaging.get_notification_transport(conf)
    notifier = oslo_messaging.Notifier(notification_transport, publisher_id='itest.host', driver='messagingv2', topics=['notifications'])
    notifier.info({}, 'itest.event', {'n': 1})
    server.stop()
    server.wait()
    transport.cleanup()
    notification_transport.cleanup()
    return {'calls': calls, 'start': calls[0]['t'] if calls else None}


def db(path, seconds):
    """Writes one row per 0.1 s through oslo.db's writer session and its retry decorator (as nova's DB API does)."""
    import logging
    from oslo_db import api as db_api
    from oslo_db.sqlalchemy import enginefacade
    import sqlalchemy as sa
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    conf = new_conf([path])
    context = enginefacade.transaction_context()
    # The service's [database] options as oslo.db reads them; short connect retries so a dead member is left fast.
    context.configure(connection=conf.database.connection, max_retries=conf.database.max_retries, retry_interval=1)

    class Ctx:
        pass

    attempts = {'n': 0}

    @db_api.wrap_db_retry(max_retries=60, retry_interval=0.25, inc_retry_interval=False, retry_on_disconnect=True)
    def write(i):
        attempts['n'] += 1
        with context.writer.using(Ctx()) as session:
            session.execute(sa.text('INSERT INTO itest_oslo (id) VALUES (:i)'), {'i': i})
            return session.execute(sa.text('SELECT @@bind_address')).scalar()

    with context.writer.using(Ctx()) as session:
        session.execute(sa.text('CREATE TABLE IF NOT EXISTS itest_oslo (id INT PRIMARY KEY)'))
    writes = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        t0, m0 = time.time(), time.monotonic()
        attempts['n'] = 0
        try:
            member = write(i)
            writes.append({'id': i, 't': t0, 'ms': (time.monotonic() - m0) * 1000, 'ok': True, 'member': member, 'attempts': attempts['n']})
        except Exception as e:  # noqa: BLE001 - a failure the retry logic did not absorb is what the test looks for
            writes.append({'id': i, 't': t0, 'ms': (time.monotonic() - m0) * 1000, 'ok': False, 'error': type(e).__name__, 'attempts': attempts['n']})
        sys.stderr.write(f'write {writes[-1]}\n')
        i += 1
        time.sleep(0.1)
    return {'writes': writes}


def cache(path):
    """oslo.cache's region and keystonemiddleware's token cache, configured from the file as the services do."""
    import logging
    from keystonemiddleware.auth_token import _cache as token_cache
    from oslo_cache import core as oslo_cache
    conf = new_conf([path])
    region = oslo_cache.create_region()
    oslo_cache.configure_cache_region(conf, region)
    keys = [f'itest-key-{i}' for i in range(60)]
    for k in keys:
        region.set(k, {'value': k})
    region_ok = all(region.get(k) == {'value': k} for k in keys)

    auth = conf.keystone_authtoken
    log = logging.getLogger('itest')

    def tokens(secret):
        # What AuthProtocol._token_cache_factory builds from [keystone_authtoken] (keystonemiddleware 10.1.0).
        c = token_cache.SecureTokenCache(
            log, auth.memcache_security_strategy, secret,
            cache_time=int(auth.token_cache_time), env_cache_name=auth.cache, memcached_servers=auth.memcached_servers,
            use_advanced_pool=auth.memcache_use_advanced_pool, dead_retry=auth.memcache_pool_dead_retry,
            maxsize=auth.memcache_pool_maxsize, unused_timeout=auth.memcache_pool_unused_timeout,
            conn_get_timeout=auth.memcache_pool_conn_get_timeout, socket_timeout=auth.memcache_pool_socket_timeout)
        c.initialize({})
        return c
    cache_with_key = tokens(auth.memcache_secret_key)
    token_ids = [f'token-{i}' for i in range(60)]
    for t in token_ids:
        cache_with_key.set(t, {'token': t, 'marker': 'PLAINTEXT-MARKER'})
    tokens_ok = all(cache_with_key.get(t) == {'token': t, 'marker': 'PLAINTEXT-MARKER'} for t in token_ids)
    # Another secret key reads nothing back: the entries are encrypted and authenticated with the configured one.
    other = tokens(auth.memcache_secret_key + 'x')
    other_reads = sum(1 for t in token_ids if other.get(t) is not None)
    import memcache
    # Items per server (in [cache] order), as memcached itself counts them.
    items = [int(stats[b'curr_items' if b'curr_items' in stats else 'curr_items'])
             for _, stats in memcache.Client(conf.cache.memcache_servers).get_stats()]
    return {'cacheServers': conf.cache.memcache_servers, 'tokenServers': auth.memcached_servers, 'items': items,
            'regionOk': region_ok, 'tokensOk': tokens_ok, 'otherKeyReads': other_reads,
            'strategy': auth.memcache_security_strategy}


def tls_cache(path):
    from oslo_cache import core as oslo_cache
    conf = new_conf([path])
    region = oslo_cache.create_region()
    oslo_cache.configure_cache_region(conf, region)
    backend = region.backend
    out = {'backend': type(backend).__module__ + '.' + type(backend).__name__,
           'tlsContext': getattr(backend, 'tls_context', None) is not None,
           'clientCertificate': conf.cache.tls_certfile is not None}
    try:
        keys = [f'tls-key-{i}' for i in range(30)]
        for k in keys:
            region.set(k, {'value': k})
        out['readBack'] = sum(1 for k in keys if region.get(k) == {'value': k})
    except Exception as error:  # the test asserts which refusal it is
        out['error'] = f'{type(error).__name__}: {error}'
    return out


def main():
    command, *args = sys.argv[1:]
    if command == 'config':
        out = check_config(args)
    elif command == 'messaging':
        out = messaging(args[0], float(args[1]))
    elif command == 'cache':
        out = cache(args[0])
    elif command == 'tlscache':
        out = tls_cache(args[0])
    elif command == 'db':
        out = db(args[0], float(args[1]))
    else:
        raise SystemExit(f'unknown command {command}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
