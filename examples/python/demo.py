"""`make demo`, Python part: the workload of examples/README.md through the
wheel over a redb file, printing what it did and the digest of the final
state; then, in a second process, the file read back (its digest equal to
the first one's, and to the other languages' digests).

    python demo.py write PATH   the workload over a new redb file at PATH
    python demo.py read PATH    PATH opened again, read back, its digest
"""

from __future__ import annotations

import os
import sys
import time

import topgun_storage as tg

N = 100_000
START = 1_700_000_000_000
TTL = 60_000


def value(i: int) -> tg.LwwRecord:
    doc = {"id": i, "name": f"user-{i}", "score": i + 0.25}
    return tg.LwwRecord(doc, tg.Timestamp(START + i, 0, "demo-node"))


def rate(n: int, secs: float) -> str:
    return f"{n / secs / 1e6:.2f} M ops/s"


def digest(store: tg.Storage) -> int:
    """FNV-1a of each key and its MessagePack value, summed (mod 2**64)."""
    total = 0
    cursor: bytes | None = None
    while True:
        entries, cursor = store.fetch_entries(cursor, 1000)
        for key, record, _meta in entries:
            h = 0xCBF29CE484222325
            for b in key.encode() + b"\xff" + tg.encode(record):
                h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            total = (total + h) & 0xFFFFFFFFFFFFFFFF
        if cursor is None:
            return total


def read(path: str) -> None:
    """The second process: the file opened again on a clock where the first
    one stopped, every record on disk read back (warm-up), the digest."""
    t = time.perf_counter()
    with tg.Storage(path=path, clock=tg.ManualClock(START + TTL + 1)) as store:
        loaded = store.warm_up()
        secs = time.perf_counter() - t
        print(f"topgun-storage Python demo, second process: {path} opened again")
        print(f"reopen   {loaded} records loaded in {secs * 1e3:.1f} ms (those past their TTL left out); len {len(store)}")
        print(f"digest   {digest(store):016x}")


def write(path: str) -> None:
    """The first process: the workload over a new file, then the file closed.
    Durability `os`: an acknowledged write is in the operating system when
    the call returns, so it survives the end of the process (`fsync`, the
    default, also survives power loss, at one disk flush per write)."""
    if os.path.exists(path):
        os.remove(path)
    clock = tg.ManualClock(START)
    with tg.Storage(path=path, durability="os", clock=clock) as store:
        workload(store, clock)
    print(f"closed   {path}")


def workload(store: tg.Storage, clock: tg.ManualClock) -> None:
    print(f"topgun-storage Python demo: topgun_storage {tg.__version__}, writing a redb file")

    # Every tenth key has its own TTL: one put_many per policy.
    with_ttl = {f"user:{i}": value(i) for i in range(0, N, 10)}
    others = {f"user:{i}": value(i) for i in range(N) if i % 10}
    t = time.perf_counter()
    store.put_many(with_ttl, ttl=TTL)
    store.put_many(others)
    secs = time.perf_counter() - t
    print(f"put      {N} records in {secs * 1e3:.1f} ms ({rate(N, secs)}, two put_many)")
    print(f"         len {len(store)}, estimated cost {store.estimated_cost()} bytes")

    t = time.perf_counter()
    hits = sum(1 for i in range(N) if store.get(f"user:{(i * 7919) % N}") is not None)
    secs = time.perf_counter() - t
    print(f"get      {hits}/{N} hits in {secs * 1e3:.1f} ms ({rate(N, secs)})")

    t = time.perf_counter()
    found = store.get_many([f"user:{(i * 7919) % N}" for i in range(N)])
    secs = time.perf_counter() - t
    print(f"get_many {len(found)}/{N} hits in {secs * 1e3:.1f} ms ({rate(N, secs)})")

    t = time.perf_counter()
    keys = pages = 0
    cursor: bytes | None = None
    while True:
        page, cursor = store.fetch_keys(cursor, 1000)
        keys += len(page)
        pages += 1
        if cursor is None:
            break
    secs = time.perf_counter() - t
    print(f"scan     {keys} keys in {pages} pages of <= 1000 in {secs * 1e3:.1f} ms")

    sample = store.random_samples(5)
    print("sample   5 random keys: " + ", ".join(k for k, _, _ in sample))

    key, record, _ = sample[0]
    data = tg.encode(record)
    assert tg.decode(data) == record
    print(
        f"codec    {key} -> {len(data)} bytes of MessagePack -> decoded equal; "
        f"partition {tg.partition_for_key(key)}"
    )

    t = time.perf_counter()
    removed = sum(1 for i in range(1, N, 4) if store.remove(f"user:{i}") is not None)
    secs = time.perf_counter() - t
    print(f"remove   {removed} keys (i % 4 == 1) in {secs * 1e3:.1f} ms; len {len(store)}")

    clock.advance(TTL + 1)
    expired = sum(store.maintain().expired for _ in range(20))
    print(f"expiry   clock +{TTL + 1} ms, 20 maintain() passes: {expired} expired; len {len(store)}")
    print(f"written  {digest(store):016x}")


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("write", "read"):
        print(__doc__, file=sys.stderr)
        return 2
    (write if argv[1] == "write" else read)(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
