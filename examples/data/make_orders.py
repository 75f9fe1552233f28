#!/usr/bin/env python3
"""Writes orders.csv: 5,000 orders, deterministic, with a few malformed rows on purpose.

Malformed rows (each a located error for the pipeline's error policy):
- every 211th row has a missing field,
- every 307th row has an amount that is not a number,
- every 997th row has a customer name that is not UTF-8.
"""
import random

random.seed(7)
customers = ["Ada Lovelace", "Grace Hopper", "Linus Torvalds", "Barbara Liskov", "Ken Thompson",
             "Margaret Hamilton", "Dennis Ritchie", "Frances Allen", "Edsger Dijkstra", "Radia Perlman"]
countries = ["DE", "FR", "US", "GB", "NL", "SE", "JP", "BR"]
statuses = ["paid"] * 6 + ["pending"] * 3 + ["refunded"]

with open("orders.csv", "wb") as f:
    f.write(b"order_id,customer,country,status,amount,quantity,created_at\n")
    for i in range(1, 5001):
        customer = random.choice(customers).encode()
        country = random.choice(countries).encode()
        status = random.choice(statuses).encode()
        amount = f"{random.uniform(3, 900):.2f}".encode()
        quantity = str(random.randint(1, 12)).encode()
        created = f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z".encode()
        if i % 997 == 0:
            customer = b"Caf\xe9 Latin-1"
        if i % 307 == 0:
            amount = b"twelve"
        fields = [str(i).encode(), b'"' + customer + b'"', country, status, amount, quantity, created]
        if i % 211 == 0:
            del fields[5]
        f.write(b",".join(fields) + b"\n")
