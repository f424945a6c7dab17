#!/usr/bin/env python3
"""AMQP(S) clients for the RabbitMQ TLS integration test (python3-pika). Every command prints one JSON object.

  loop <hosts> <port> <seconds> <ca>   new AMQPS connections in a loop, round-robin over hosts (comma-separated), each
                                       verified against <ca> (chain and the host's IP); one message published on each;
                                       plus one connection kept open the whole time publishing with confirms every
                                       0.1 s. Reports every connection (time, host, outcome, sha256 of the presented
                                       certificate) and the kept-alive publisher's outcome. Stops early when the file
                                       named by env STOP_FILE exists.
  connect <host> <port> <ca>           one verified AMQPS connection; {"ok": bool, "error": ...}
User nova, password from env PW. Vhost "/".
"""
import hashlib
import json
import os
import ssl
import sys
import threading
import time

import pika


def params(host, port, ca, tls=True, **kw):
    credentials = pika.PlainCredentials('nova', os.environ['PW'])
    ssl_options = None
    if tls:
        context = ssl.create_default_context(cafile=ca)
        context.check_hostname = True
        ssl_options = pika.SSLOptions(context, server_hostname=host)
    return pika.ConnectionParameters(host=host, port=int(port), virtual_host='/', credentials=credentials,
                                     ssl_options=ssl_options, connection_attempts=1, socket_timeout=5, **kw)


def presented(connection):
    """sha256 of the DER certificate the broker presented on this connection (pika keeps the socket inside)."""
    try:
        der = connection._impl._transport._sock.getpeercert(binary_form=True)
        return hashlib.sha256(der).hexdigest()
    except Exception:  # noqa: BLE001 - a figure, not the outcome
        return None


def one(host, port, ca, publish=True):
    t0 = time.time()
    m0 = time.monotonic()
    try:
        c = pika.BlockingConnection(params(host, port, ca))
        fp = presented(c)
        if publish:
            ch = c.channel()
            ch.basic_publish('', 'rtls.loop', b'x')
        c.close()
        return {'t': t0, 'host': host, 'ok': True, 'fp': fp, 'ms': (time.monotonic() - m0) * 1000}
    except Exception as e:  # noqa: BLE001 - every failure is a data point
        return {'t': t0, 'host': host, 'ok': False, 'error': f'{type(e).__name__}: {e}', 'ms': (time.monotonic() - m0) * 1000}


def keepalive(host, port, ca, stop, out):
    sent = failed = 0
    errors = []
    try:
        c = pika.BlockingConnection(params(host, port, ca, heartbeat=10))
        ch = c.channel()
        ch.confirm_delivery()
        ch.queue_declare('rtls.keepalive', durable=False, arguments={'x-max-length': 1000})
        while not stop.is_set():
            try:
                ch.basic_publish('', 'rtls.keepalive', b'k', mandatory=True)
                sent += 1
            except Exception as e:  # noqa: BLE001
                failed += 1
                errors.append(f'{type(e).__name__}: {e}')
                break
            c.sleep(0.1)
        c.close()
    except Exception as e:  # noqa: BLE001
        failed += 1
        errors.append(f'{type(e).__name__}: {e}')
    out.update({'sent': sent, 'failed': failed, 'errors': errors[:5]})


def loop(hosts, port, seconds, ca):
    hosts = hosts.split(',')
    setup = pika.BlockingConnection(params(hosts[0], port, ca))
    setup.channel().queue_declare('rtls.loop', durable=False, arguments={'x-max-length': 1000})
    setup.close()
    stop = threading.Event()
    publisher = {}
    thread = threading.Thread(target=keepalive, args=(hosts[0], port, ca, stop, publisher))
    thread.start()
    results = []
    deadline = time.monotonic() + float(seconds)
    stop_file = os.environ.get('STOP_FILE')
    i = 0
    while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
        results.append(one(hosts[i % len(hosts)], port, ca))
        i += 1
        time.sleep(0.05)
    stop.set()
    thread.join()
    return {'connections': results, 'publisher': publisher}


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == 'loop':
        out = loop(*args)
    elif command == 'connect':
        r = one(args[0], args[1], args[2], publish=False)
        out = {'ok': r['ok'], 'error': r.get('error'), 'fp': r.get('fp')}
    else:
        raise SystemExit(f'unknown command {command}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
