#!/usr/bin/env python3
"""The Kafka client that is not ours (confluent-kafka, `pip install confluent-kafka`), for Rivus's Kafka tests.

    kafka_client.py produce --brokers B --topic T [--start S] --count N
        Produces N JSON records {"n": i, "key": "k<i % 16>"} (i = S, S+1, ...) with key "k<i % 16>", in order; prints
        {"produced": N} once every delivery report has succeeded (exit 1 otherwise).

    kafka_client.py read --brokers B --topic T --expect N [--timeout S] [--id-field F]
        Reads the topic from the beginning (a fresh group) until N records were read or S seconds (default 60)
        passed without a new record; prints {"count": ..., "distinct": ..., "missing": [first 20 ids
        0..N missing], "partitions": {p: count}}; the ids are the JSON payloads' field F (default "n").
"""

import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer


def produce(args):
    p = Producer({
        "bootstrap.servers": args.brokers,
        "acks": "all",
        "linger.ms": 5,
        # one request in flight per connection keeps the order per partition even on retries
        "max.in.flight.requests.per.connection": 1,
        "enable.idempotence": False,
    })
    failed = []

    def report(err, msg):
        if err is not None:
            failed.append(str(err))

    for i in range(args.start, args.start + args.count):
        key = "k%d" % (i % 16)
        payload = json.dumps({"n": i, "key": key})
        while True:
            try:
                p.produce(args.topic, payload.encode(), key.encode(), on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    if left or failed:
        print("not delivered: %d left, %d failed, first: %s" % (left, len(failed), failed[:1]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"produced": args.count}))


def read(args):
    c = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "kafka-client-py-%s" % uuid.uuid4(),
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([args.topic])
    count = 0
    ids = set()
    partitions = {}
    last = time.monotonic()
    while count < args.expect and time.monotonic() - last < args.timeout:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            print("consume error: %s" % msg.error(), file=sys.stderr)
            continue
        last = time.monotonic()
        count += 1
        partitions[msg.partition()] = partitions.get(msg.partition(), 0) + 1
        try:
            ids.add(int(json.loads(msg.value())[args.id_field]))
        except (ValueError, KeyError, TypeError):
            pass
    c.close()
    missing = [i for i in range(args.expect) if i not in ids][:20]
    print(json.dumps({"count": count, "distinct": len(ids), "missing": missing, "partitions": partitions}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("produce")
    pp.add_argument("--brokers", required=True)
    pp.add_argument("--topic", required=True)
    pp.add_argument("--start", type=int, default=0)
    pp.add_argument("--count", type=int, required=True)
    rp = sub.add_parser("read")
    rp.add_argument("--brokers", required=True)
    rp.add_argument("--topic", required=True)
    rp.add_argument("--expect", type=int, required=True)
    rp.add_argument("--timeout", type=float, default=60.0)
    rp.add_argument("--id-field", default="n")
    args = ap.parse_args()
    {"produce": produce, "read": read}[args.cmd](args)


if __name__ == "__main__":
    main()
