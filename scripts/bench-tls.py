#!/usr/bin/python3
"""TLS against plaintext, side by side in one run, with the real daemons (figures, not assertions).

MariaDB (the server config GaleraPetSet renders with TLS: ssl_cert/ssl_key/ssl_ca, TLS 1.2+): one mariadbd on
127.0.18.20, a certificate made here with openssl, PyMySQL as the client (what oslo.db uses). Measured:
- handshake: connect + SELECT 1 + close, one connection after another (TLS adds the handshake and verification);
- throughput: SELECT of a 1 KiB value on one open connection (TLS adds encryption only).
Run by `npm run bench` (needs root, mariadb-server and python3-pymysql; skipped with a line otherwise).
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pymysql

HOST = '127.0.18.20'
CONNECTS = 300
QUERIES = 5000


def sh(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, **kwargs)


def make_certificates(d):
    sh('openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f'{d}/ca.key')
    sh('openssl', 'req', '-x509', '-new', '-key', f'{d}/ca.key', '-subj', '/CN=bench-ca', '-days', '1', '-out', f'{d}/ca.crt')
    sh('openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', f'{d}/tls.key')
    sh('openssl', 'req', '-new', '-key', f'{d}/tls.key', '-subj', '/CN=bench', '-out', f'{d}/tls.csr')
    with open(f'{d}/ext', 'w') as f:
        f.write(f'subjectAltName=IP:{HOST}\nextendedKeyUsage=serverAuth,clientAuth\n')
    sh('openssl', 'x509', '-req', '-in', f'{d}/tls.csr', '-CA', f'{d}/ca.crt', '-CAkey', f'{d}/ca.key', '-CAcreateserial',
       '-days', '1', '-extfile', f'{d}/ext', '-out', f'{d}/tls.crt')
    for name in ('ca.crt', 'tls.crt', 'tls.key'):
        os.chmod(f'{d}/{name}', 0o644)


def start_mariadbd(d):
    cnf = f'{d}/my.cnf'
    with open(cnf, 'w') as f:
        f.write(f"""[mysqld]
datadir={d}/data
socket={d}/sock
pid_file={d}/pid
bind_address={HOST}
port=3306
skip_name_resolve=ON
performance_schema=OFF
innodb_buffer_pool_size=64M
ssl_cert={d}/tls.crt
ssl_key={d}/tls.key
ssl_ca={d}/ca.crt
tls_version=TLSv1.2,TLSv1.3
""")
    os.makedirs(f'{d}/data')
    shutil.chown(d, 'mysql', 'mysql')
    shutil.chown(f'{d}/data', 'mysql', 'mysql')
    sh('runuser', '-u', 'mysql', '--', 'mariadb-install-db', f'--defaults-file={cnf}', '--auth-root-authentication-method=socket',
       '--auth-root-socket-user=mysql', '--skip-test-db')
    server = subprocess.Popen(['runuser', '-u', 'mysql', '--', 'mariadbd', f'--defaults-file={cnf}', '--wsrep-on=OFF'],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        if subprocess.run(['runuser', '-u', 'mysql', '--', 'mariadb', f'--socket={d}/sock', '-e',
                           "CREATE USER IF NOT EXISTS bench@'%' IDENTIFIED BY 'bench'"], capture_output=True).returncode == 0:
            return server
        time.sleep(0.2)
    raise RuntimeError('mariadbd did not start')


def connect(ssl):
    return pymysql.connect(host=HOST, user='bench', password='bench', ssl=ssl)


def handshake_ms(ssl):
    samples = []
    for _ in range(CONNECTS):
        t0 = time.perf_counter()
        conn = connect(ssl)
        with conn.cursor() as c:
            c.execute('SELECT 1')
        conn.close()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), sorted(samples)[int(len(samples) * 0.99) - 1]


def queries_per_second(ssl):
    conn = connect(ssl)
    with conn.cursor() as c:
        t0 = time.perf_counter()
        for _ in range(QUERIES):
            c.execute("SELECT REPEAT('x', 1024)")
            c.fetchall()
        elapsed = time.perf_counter() - t0
    conn.close()
    return QUERIES / elapsed


def main():
    d = tempfile.mkdtemp(prefix='bench-tls-')
    os.chmod(d, 0o755)
    server = None
    try:
        make_certificates(d)
        server = start_mariadbd(d)
        tls = {'ca': f'{d}/ca.crt', 'check_hostname': True}
        rows = []
        for label, ssl in (('plaintext', None), ('TLS (verified)', tls)):
            handshake_ms(ssl)  # warm-up
            median, p99 = handshake_ms(ssl)
            rows.append((label, median, p99, queries_per_second(ssl)))
        print(f'MariaDB 10.11 via PyMySQL, {CONNECTS} connections, {QUERIES} queries of 1 KiB (median of one run):')
        print(f"{'':16} {'connect+query ms (median)':>26} {'p99 ms':>8} {'queries/s':>10}")
        for label, median, p99, qps in rows:
            print(f'{label:16} {median:26.2f} {p99:8.2f} {qps:10.0f}')
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            server.wait(timeout=60)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    if os.geteuid() != 0 or not shutil.which('mariadbd', path='/usr/sbin:/usr/bin'):
        print('TLS benchmark skipped: needs root and mariadb-server')
        sys.exit(0)
    main()
