"""oslo.cache keys through the real client (the memcache_pool backend, python-memcached), configured by a rendered
service config, for replace-controller.test.ts: write keys, read them back (hits and misses), and where
python-memcached puts a key for a server list (which keys move when the list changes).

Usage: cache_keys.py write CONF PREFIX N | read CONF PREFIX N | moved OLD_SERVERS NEW_SERVERS N
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def region(path):
    from oslo_cache import core as oslo_cache
    from oslo_clients import new_conf
    conf = new_conf([path])
    r = oslo_cache.create_region()
    oslo_cache.configure_cache_region(conf, r)
    return conf, r


def write(path, prefix, n):
    conf, r = region(path)
    start = time.monotonic()
    for i in range(n):
        r.set(f'{prefix}-{i}', {'value': i})
    return {'servers': ','.join(conf.cache.memcache_servers), 'written': n, 'seconds': round(time.monotonic() - start, 3)}


def read(path, prefix, n):
    from dogpile.cache.api import NO_VALUE
    conf, r = region(path)
    start = time.monotonic()
    hits = sum(1 for i in range(n) if r.get(f'{prefix}-{i}') not in (NO_VALUE, None))
    return {'servers': ','.join(conf.cache.memcache_servers), 'hits': hits, 'misses': n - hits, 'seconds': round(time.monotonic() - start, 3)}


def moved(old, new, n):
    """The share of keys python-memcached sends to another server after the list change (its placement:
    crc32-based hash modulo the number of servers, memcache.Client._get_server), for keys shaped like oslo.cache's
    (sha1-mangled)."""
    import hashlib
    import memcache
    old_list, new_list = old.split(','), new.split(',')
    changed = 0
    for i in range(n):
        key = hashlib.sha1(f'key-{i}'.encode()).hexdigest()
        h = memcache.serverHashFunction(key.encode())
        if old_list[h % len(old_list)] != new_list[h % len(new_list)]:
            changed += 1
    return {'keys': n, 'moved': changed}


def main():
    command, *args = sys.argv[1:]
    if command == 'write':
        out = write(args[0], args[1], int(args[2]))
    elif command == 'read':
        out = read(args[0], args[1], int(args[2]))
    elif command == 'moved':
        out = moved(args[0], args[1], int(args[2]))
    else:
        raise SystemExit(f'unknown command {command}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
