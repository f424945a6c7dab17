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
"""
import json
import sys
import time
import urllib.parse

from oslo_config import cfg


def option_sources():
    """(group, options) as the libraries register them; group None is DEFAULT."""
    from keystoneauth1 import loading
    import keystonemiddleware.auth_token._opts as auth_token_opts
    import oslo_cache._opts as cache_opts
    import oslo_db.options as db_opts
    from oslo_messaging import opts as messaging_opts

    sources = [*messaging_opts.list_opts(), *db_opts.list_opts(), *cache_opts.list_opts(), *auth_token_opts.list_opts()]
    # keystone_authtoken's auth_url belongs to the auth plugin a deployment names with auth_type (password).
    return sources + [('keystone_authtoken', loading.get_auth_plugin_conf_options('password'))]


def registered_options():
    """group name -> option names."""
    groups = {}
    for group, opts in option_sources():
        groups.setdefault(getattr(group, 'name', group) or 'DEFAULT', set()).update(o.dest for o in opts)
    return groups


def new_conf(files):
    conf = cfg.ConfigOpts()
    for group, opts in option_sources():
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
    import threading
    import oslo_messaging
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
        t0 = time.monotonic()
        try:
            ok = client.call({}, 'echo', value=i) == i
            calls.append({'t': t0, 'ms': (time.monotonic() - t0) * 1000, 'ok': ok})
        except Exception as e:  # noqa: BLE001 - every failure is a data point
            calls.append({'t': t0, 'ms': (time.monotonic() - t0) * 1000, 'ok': False, 'error': type(e).__name__})
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


def main():
    command, *args = sys.argv[1:]
    if command == 'config':
        out = check_config(args)
    elif command == 'messaging':
        out = messaging(args[0], float(args[1]))
    else:
        raise SystemExit(f'unknown command {command}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
