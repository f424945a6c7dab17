#!/usr/bin/python3
"""The load generator of test/integration/tls.bench.ts: one component, plaintext against TLS, driven by the client
library the OpenStack services use for it (PyMySQL as oslo.db, py-amqp as oslo.messaging's kombu driver, pymemcache as
oslo.cache's TLS backend, http.client under requests/keystoneauth). Plaintext and TLS run the same code: only the
TLS context differs (verification against the CA, host name = the IP in the certificate, no client certificate, no
session resumption: a new connection is a full handshake, as with these libraries).

  tls_bench_client.py '<json spec>'

spec: component (sql | amqp | memcached | https), plain and tls ({host, port} of each), ca, concurrency, seconds,
setupSeconds, setupMax (each per mode), payload (bytes the operation reads or sends), and per component: user,
password (sql, amqp), database (sql), queue (amqp), key (memcached), path (https).

Two phases per mode, each run in two halves in the order plaintext, TLS, TLS, plaintext (a load that drifts during
the run biases neither side); one JSON object out, {client, plain: {...}, tls: {...}}:
- persistent: `concurrency` processes, each with one connection opened before the clock starts, each sending its
  next operation when the previous reply is in (closed loop), for `seconds`: ops/s over all, p50/p99 latency of one
  operation. A connection that the library replaced meanwhile (a reconnect would hide a handshake) is an error.
- setup: one process opening new connections one after another (each closed before the next) for `setupSeconds`
  or `setupMax` connections: p50/p99 of connect until the first request can be sent (TCP, the TLS handshake, and
  the protocol's own opening: SQL authentication, AMQP connection and channel open).
Anything that fails exits non-zero with the reason on stderr: a figure that cannot be measured is never a zero.
"""
import http.client
import json
import multiprocessing
import os
import random
import ssl
import sys
import time

MIN_SETUP_SAMPLES = 20


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


class Component:
    """What the phases need of a client: connect, prepare (lay out the data), operate, the socket, close."""

    def __init__(self, spec, context):
        self.spec = spec
        self.context = context

    def prepare(self, handle):
        pass

    @staticmethod
    def close(handle):
        handle.close()


class Sql(Component):
    """oslo.db's driver: one point SELECT of a `payload`-byte row by primary key (the bench fills 1000 rows)."""

    def __init__(self, spec, context):
        import pymysql
        super().__init__(spec, context)
        self.pymysql = pymysql
        self.library = f'PyMySQL {pymysql.__version__}'
        # PyMySQL's ssl dict (what oslo.db's ssl_ca becomes): verify the chain and the host name.
        self.ssl = {'ca': spec['ca'], 'check_hostname': True} if context else None

    def connect(self):
        s = self.spec
        return self.pymysql.connect(host=s['host'], port=s['port'], user=s['user'], password=s['password'], database=s['database'],
                                    ssl=self.ssl, connect_timeout=10, read_timeout=30, write_timeout=30, autocommit=True)

    def prepare(self, conn):
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS tls_bench (id INT PRIMARY KEY, v VARBINARY({self.spec['payload']}))")
            cursor.executemany('REPLACE INTO tls_bench VALUES (%s, %s)', [(i, os.urandom(self.spec['payload'])) for i in range(1, 1001)])

    def operate(self, conn):
        with conn.cursor() as cursor:
            cursor.execute('SELECT v FROM tls_bench WHERE id = %s', (random.randint(1, 1000),))
            row = cursor.fetchone()
        if row is None or len(row[0]) != self.spec['payload']:
            raise RuntimeError(f'unexpected row: {row!r:.80}')

    @staticmethod
    def socket_of(conn):
        return conn._sock


class Amqp(Component):
    """oslo.messaging's transport (kombu on py-amqp): a transient `payload`-byte message to a queue, publisher confirms."""

    def __init__(self, spec, context):
        import amqp
        super().__init__(spec, context)
        self.amqp = amqp
        self.library = f'py-amqp {amqp.__version__}'
        # What kombu passes for oslo.messaging's ssl_ca_file: the CA, certificate required, SNI = host (checked).
        self.ssl = {'ca_certs': spec['ca'], 'cert_reqs': ssl.CERT_REQUIRED, 'server_hostname': spec['host']} if context else False
        self.body = b'x' * spec['payload']

    def connect(self):
        s = self.spec
        conn = self.amqp.Connection(host=f"{s['host']}:{s['port']}", userid=s['user'], password=s['password'], virtual_host='/',
                                    ssl=self.ssl, connect_timeout=10, read_timeout=30, write_timeout=30)
        conn.connect()
        channel = conn.channel()
        channel.confirm_select()
        return conn, channel

    def prepare(self, handle):
        # Transient, unconsumed, bounded (the oldest messages are dropped past 10000): what oslo RPC declares, minus
        # the consumer; the broker confirms a message once the queue has it.
        handle[1].queue_declare(self.spec['queue'], durable=False, auto_delete=False, arguments={'x-max-length': 10000})

    def operate(self, handle):
        _, channel = handle
        channel.basic_publish_confirm(self.amqp.Message(self.body), exchange='', routing_key=self.spec['queue'], confirm_timeout=30)

    @staticmethod
    def socket_of(handle):
        return handle[0].transport.sock

    @staticmethod
    def close(handle):
        handle[0].close()


class Memcached(Component):
    """oslo.cache's TLS backend (pymemcache): a get of one `payload`-byte value."""

    def __init__(self, spec, context):
        import pymemcache
        from pymemcache.client.base import Client
        super().__init__(spec, context)
        self.library = f'pymemcache {pymemcache.__version__}'
        self.client = Client

    def connect(self):
        s = self.spec
        client = self.client((s['host'], s['port']), tls_context=self.context, connect_timeout=10, timeout=30, no_delay=True)
        client._connect()  # what pymemcache's first command does: TCP, and the TLS handshake with a tls_context
        return client

    def prepare(self, client):
        if not client.set(self.spec['key'], os.urandom(self.spec['payload']), expire=0, noreply=False):
            raise RuntimeError('memcached did not store the value')

    def operate(self, client):
        value = client.get(self.spec['key'])
        if value is None or len(value) != self.spec['payload']:
            raise RuntimeError(f'unexpected value: {value!r:.80}')

    @staticmethod
    def socket_of(client):
        return client.sock


class Https(Component):
    """An API client (requests/keystoneauth sit on http.client): GET of a `payload`-byte body, HTTP/1.1 keep-alive."""

    def __init__(self, spec, context):
        super().__init__(spec, context)
        self.library = 'http.client'

    def connect(self):
        s = self.spec
        conn = (http.client.HTTPSConnection(s['host'], s['port'], context=self.context, timeout=30) if self.context
                else http.client.HTTPConnection(s['host'], s['port'], timeout=30))
        conn.connect()
        return conn

    def operate(self, conn):
        conn.request('GET', self.spec['path'])
        response = conn.getresponse()
        body = response.read()
        if response.status != 200 or len(body) != self.spec['payload']:
            raise RuntimeError(f'HTTP {response.status}, {len(body)} bytes')

    @staticmethod
    def socket_of(conn):
        return conn.sock


COMPONENTS = {'sql': Sql, 'amqp': Amqp, 'memcached': Memcached, 'https': Https}


def client_for(spec):
    context = None
    if spec['tls']:
        context = ssl.create_default_context(cafile=spec['ca'])  # TLS 1.2+, chain and host name checked
    return COMPONENTS[spec['component']](spec, context)


def negotiated(sock, tls):
    """What the connection really is: the TLS version and cipher, or plaintext (and a mismatch is an error)."""
    if isinstance(sock, ssl.SSLSocket) != tls:
        raise RuntimeError(f'expected {"TLS" if tls else "plaintext"}, got a {type(sock).__name__}')
    return f'{sock.version()} {sock.cipher()[0]}' if tls else 'plaintext'


def worker(spec, barrier, results):
    try:
        client = client_for(spec)
        handle = client.connect()
        sock = client.socket_of(handle)
        protocol = negotiated(sock, spec['tls'])
        for _ in range(20):  # warm-up: first-use paths in the server and the client
            client.operate(handle)
        barrier.wait(timeout=120)
        latencies = []
        start = time.perf_counter()
        deadline = start + spec['seconds']
        now = start
        while now < deadline:
            client.operate(handle)
            t = time.perf_counter()
            latencies.append(t - now)
            now = t
        elapsed = now - start
        if client.socket_of(handle) is not sock:
            raise RuntimeError('the library replaced the connection during the run (a reconnect would hide a handshake)')
        client.close(handle)
        results.put({'latencies': latencies, 'elapsed': elapsed, 'protocol': protocol})
    except Exception as e:  # noqa: BLE001 - reported to the parent, which fails
        barrier.abort()
        results.put({'error': f'{type(e).__name__}: {e}'})


def persistent(spec, seconds):
    """One round of the persistent phase: each worker's latencies, and the round's length (its slowest worker)."""
    barrier = multiprocessing.Barrier(spec['concurrency'])
    results = multiprocessing.Queue()
    round_spec = dict(spec, seconds=seconds)
    workers = [multiprocessing.Process(target=worker, args=(round_spec, barrier, results)) for _ in range(spec['concurrency'])]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=seconds + 300) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    errors = [o['error'] for o in outcomes if 'error' in o]
    if errors:
        raise RuntimeError(f'persistent phase: {"; ".join(sorted(set(errors)))}')
    return [x for o in outcomes for x in o['latencies']], max(o['elapsed'] for o in outcomes), {o['protocol'] for o in outcomes}


def setup(spec, seconds, at_most):
    """One round of the new-connection phase: the time of each connection until it is ready."""
    client = client_for(spec)
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(samples) < at_most:
        t0 = time.perf_counter()
        handle = client.connect()
        samples.append(time.perf_counter() - t0)
        negotiated(client.socket_of(handle), spec['tls'])
        client.close(handle)
    return samples


def milliseconds(sorted_seconds, p):
    return round(percentile(sorted_seconds, p) * 1000, 3)


def main():
    spec = json.loads(sys.argv[1])
    modes = {tls: dict(spec, **spec['tls' if tls else 'plain'], tls=tls) for tls in (False, True)}
    clients = {}
    for tls, mode in modes.items():
        # One connection first, which lays out the data: a server that is not there fails here, before any load.
        clients[tls] = client_for(mode)
        handle = clients[tls].connect()
        clients[tls].prepare(handle)
        clients[tls].close(handle)
    # Plaintext and TLS alternate (ABBA), each phase in two halves: a machine whose load drifts during the run
    # biases neither side.
    order = (False, True, True, False)
    runs = {tls: {'latencies': [], 'elapsed': 0.0, 'protocols': set(), 'setup': []} for tls in modes}
    for tls in order:
        latencies, elapsed, protocols = persistent(modes[tls], spec['seconds'] / 2)
        runs[tls]['latencies'] += latencies
        runs[tls]['elapsed'] += elapsed
        runs[tls]['protocols'] |= protocols
    for tls in order:
        runs[tls]['setup'] += setup(modes[tls], spec['setupSeconds'] / 2, spec['setupMax'] // 2)
    out = {'client': f'{clients[False].library}, Python {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}'}
    for tls, run in runs.items():
        latencies = sorted(run['latencies'])
        samples = sorted(run['setup'])
        if len(samples) < MIN_SETUP_SAMPLES:
            raise RuntimeError(f'{"TLS" if tls else "plaintext"}: only {len(samples)} new connections in {spec["setupSeconds"]} s '
                               f'(at least {MIN_SETUP_SAMPLES} needed)')
        out['tls' if tls else 'plain'] = {
            'ops': len(latencies), 'opsPerSecond': round(len(latencies) / run['elapsed'], 1),
            'p50Ms': milliseconds(latencies, 0.5), 'p99Ms': milliseconds(latencies, 0.99), 'negotiated': sorted(run['protocols']),
            'setup': {'count': len(samples), 'p50Ms': milliseconds(samples, 0.5), 'p99Ms': milliseconds(samples, 0.99)},
        }
    print(json.dumps(out))


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # noqa: BLE001 - one line for the bench to show
        print(f'{type(e).__name__}: {e}', file=sys.stderr)
        sys.exit(1)
