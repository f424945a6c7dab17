#!/usr/bin/env python3
"""Publish/consume throughput of a replicated vs an unreplicated queue on a running RabbitMQ cluster.

Three queues, the same messages:
  replicated   durable queue in the notifications vhost (the cluster's replication policy applies),
               persistent messages: what oslo notifications do with amqp_durable_queues=true
  durable      durable queue in the RPC vhost (no replication), persistent messages: isolates the cost
               of replication from the cost of persistence
  transient    non-durable queue in the RPC vhost, transient messages: what oslo RPC does by default

Two publish figures per queue:
  confirmed  publisher confirms with one message in flight (each publish waits for its confirm, which for a
             persistent message means an fsync, and for a mirrored queue every mirror): latency-bound
  pipelined  no confirms; the clock stops when the queue holds every message (passive declare): what the
             broker ingests when a client does not wait
Consuming uses prefetch 200 and acknowledges every 100 messages (measured after the pipelined publish).

Figures are printed (a table on stderr, one JSON object per queue on stdout); nothing is asserted.
Needs python3-pika (Debian). The password is read from the env var named by --password-env.
"""
import argparse
import json
import os
import statistics
import sys
import time

import pika


def connect(args, vhost):
    credentials = pika.PlainCredentials(args.user, os.environ[args.password_env])
    params = pika.ConnectionParameters(host=args.host, port=args.port, virtual_host=vhost,
                                       credentials=credentials, heartbeat=0, blocked_connection_timeout=120)
    return pika.BlockingConnection(params)


def publish_confirmed(channel, queue, count, body, persistent):
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1)
    start = time.monotonic()
    for _ in range(count):
        channel.basic_publish(exchange='', routing_key=queue, body=body, properties=props, mandatory=True)
    return count / (time.monotonic() - start)


def publish_pipelined(channel, queue, count, body, persistent):
    props = pika.BasicProperties(delivery_mode=2 if persistent else 1)
    start = time.monotonic()
    for _ in range(count):
        channel.basic_publish(exchange='', routing_key=queue, body=body, properties=props)
    while channel.queue_declare(queue, passive=True).method.message_count < count:
        time.sleep(0.005)
    return count / (time.monotonic() - start)


def consume(channel, queue, count):
    channel.basic_qos(prefetch_count=200)
    received = 0
    start = time.monotonic()
    for method, _props, _body in channel.consume(queue, auto_ack=False, inactivity_timeout=30):
        if method is None:
            raise RuntimeError(f'{queue}: only {received} of {count} messages arrived')
        received += 1
        if received % 100 == 0 or received == count:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if received == count:
            break
    rate = count / (time.monotonic() - start)
    channel.cancel()
    return rate


def run(args, vhost, queue, durable, persistent):
    body = b'x' * args.size
    connection = connect(args, vhost)
    try:
        confirmed = connection.channel()
        confirmed.confirm_delivery()
        confirmed.queue_delete(queue)
        confirmed.queue_declare(queue, durable=durable)
        channel = connection.channel()
        rounds = []
        for _ in range(args.rounds):
            confirmed_rate = publish_confirmed(confirmed, queue, args.confirmed_count, body, persistent)
            consume(channel, queue, args.confirmed_count)
            pipelined_rate = publish_pipelined(channel, queue, args.count, body, persistent)
            rounds.append((confirmed_rate, pipelined_rate, consume(channel, queue, args.count)))
        channel.queue_delete(queue)
    finally:
        connection.close()
    return {
        'queue': queue,
        'vhost': vhost,
        'durable': durable,
        'persistent': persistent,
        'bytes': args.size,
        'rounds': args.rounds,
        'confirmed_messages': args.confirmed_count,
        'confirmed_publish_per_s': round(statistics.median(r[0] for r in rounds)),
        'pipelined_messages': args.count,
        'pipelined_publish_per_s': round(statistics.median(r[1] for r in rounds)),
        'consume_per_s': round(statistics.median(r[2] for r in rounds)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--host', required=True)
    parser.add_argument('--port', type=int, default=5672)
    parser.add_argument('--user', required=True)
    parser.add_argument('--password-env', required=True, help='env var holding the password')
    parser.add_argument('--notifications-vhost', default='notifications')
    parser.add_argument('--rpc-vhost', default='/')
    parser.add_argument('--count', type=int, default=5000, help='messages per pipelined round')
    parser.add_argument('--confirmed-count', type=int, default=500, help='messages per confirmed round')
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()

    results = [
        run(args, args.notifications_vhost, 'bench.replicated', durable=True, persistent=True),
        run(args, args.rpc_vhost, 'bench.durable', durable=True, persistent=True),
        run(args, args.rpc_vhost, 'bench.transient', durable=False, persistent=False),
    ]
    base = results[1]
    columns = ('confirmed_publish_per_s', 'pipelined_publish_per_s', 'consume_per_s')
    print(f'{"queue":<18} {"confirmed/s":>11} {"pipelined/s":>11} {"consume/s":>10}   ratios to bench.durable '
          f'({args.size} B messages, median of {args.rounds})', file=sys.stderr)
    for r in results:
        ratios = ' '.join(f'{r[c] / base[c]:.2f}' for c in columns)
        print(f'{r["queue"]:<18} {r[columns[0]]:>11} {r[columns[1]]:>11} {r[columns[2]]:>10}   {ratios}', file=sys.stderr)
        print(json.dumps(r))

if __name__ == '__main__':
    main()
