"""The Python parity runner (see tests/parity/README.md).

usage: runner.py run|write [--backend B --at LOCATION [--durability D]] OUT_DIR SCENARIO.json...

Replays each scenario against the installed `topgun_storage` wheel (in
memory, or over backend B: README, "Backends") and writes
OUT_DIR/<name>.txt, one line per step; `write` runs the write steps of the
cross-language scenarios Python writes. Values given as JSON are passed as
plain dicts (Python's native form); values read back are Python objects,
encoded again with `topgun_storage.encode`.
"""
import json
import re
import sys
from pathlib import Path

import topgun_storage as ts


def key_of(step):
    if "keyRepeat" in step:
        text, times = step["keyRepeat"]
        return text * times
    return step.get("key", "")


def hex_of(value):
    return "-" if value is None else ts.encode(value).hex()


def scan(store, page, entries):
    cursor, out = None, []
    while True:
        fetch = store.fetch_entries if entries else store.fetch_keys
        items, cursor = fetch(cursor, page)
        out.extend(items)
        if cursor is None:
            return out


def run_step(store, clock, step):
    op, key = step["op"], key_of(step)
    expiry = {"ttl": step.get("ttl") or None, "max_idle": step.get("maxIdle") or None}
    if op in ("put", "putPath"):
        if "value" in step:
            store.put(key, step["value"], **expiry)
        else:
            store.put_msgpack(key, bytes.fromhex(step["msgpack"]), **expiry)
        return "ok"
    if op == "get":
        return "value=" + hex_of(store.get(key))
    if op == "getBytes":
        data = store.get_msgpack(key)
        return "value=" + ("-" if data is None else data.hex())
    if op == "record":
        found = store.get_record(key)
        if found is None:
            return "value=-"
        value, m = found
        return (f"value={hex_of(value)} version={m.version} hits={m.hits} created={m.creation_time}"
                f" updated={m.last_update_time} accessed={m.last_access_time}")
    if op == "remove":
        return f"removed={'true' if store.remove(key) is not None else 'false'}"
    if op == "has":
        return f"has={'true' if store.contains(key) else 'false'}"
    if op == "len":
        return f"len={len(store)}"
    if op == "cost":
        return f"cost={store.estimated_cost()}"
    if op == "clear":
        store.clear()
        return f"len={len(store)}"
    if op == "advance":
        return f"now={clock.advance(step.get('ms', 0))}"
    if op == "maintain":
        report = store.maintain()
        return f"expired={report.expired} evicted={report.evicted}"
    if op == "scan":
        keys = sorted(k.encode("utf-8").hex() for k in scan(store, step.get("page", 100), False))
        return "keys=" + ",".join(keys)
    if op == "scanEntries":
        entries = sorted(f"{k.encode('utf-8').hex()}:{hex_of(v)}" for k, v, _ in scan(store, step.get("page", 100), True))
        return "entries=" + ",".join(entries)
    if op == "samples":
        sample = store.random_samples(step.get("k", 0))
        live = {(k, hex_of(v)) for k, v, _ in scan(store, 1000, True)}
        keys = [k for k, _, _ in sample]
        distinct = len(set(keys)) == len(keys)
        members = all((k, hex_of(v)) in live for k, v, _ in sample)
        return f"count={len(sample)} distinct={str(distinct).lower()} members={str(members).lower()}"
    if op == "stats":
        s = store.stats()
        return (f"hits={s.hits} misses={s.misses} puts={s.puts} updates={s.updates} removes={s.removes}"
                f" evictions={s.evictions} expirations={s.expirations} entries={s.entry_count} cost={s.total_cost}")
    if op == "encode":
        value = step["value"] if "value" in step else ts.decode(bytes.fromhex(step["msgpack"]))
        return "hex=" + ts.encode(value).hex()
    if op == "badCursor":
        store.fetch_keys(bytes.fromhex(step["cursor"]), step.get("page", 10))
        return "ok"
    raise SystemExit(f"parity-python: unknown op {op}")


LANGS = ("rust", "c", "python", "node")


class NotRun(Exception):
    """This wheel cannot run the requested backend (the reason is printed)."""


def location(target, name):
    """Where store `name` lives: (path or connection string, PostgreSQL table)."""
    if target["backend"] == "postgres":
        return target["at"], "p_" + re.sub(r"[^A-Za-z0-9]", "_", name)
    return str(Path(target["at"], f"{name}.{target['backend']}")), None


def open_store(target, name, options, clock):
    """The scenario's store: in memory, or over the target's backend at the
    location of store `name` (README, "Backends")."""
    kwargs = dict(
        ttl=options.get("ttl") or None,
        max_idle=options.get("maxIdle") or None,
        max_entries=options.get("maxEntries") or None,
        max_cost=options.get("maxCost") or None,
        eviction=options.get("eviction", "none"),
        samples=options.get("samples", 15),
        clock=clock,
    )
    backend = target["backend"]
    if backend is None:
        return ts.Storage(**kwargs)
    where, table = location(target, name)
    kwargs.update(backend=backend, durability=target["durability"])
    if table is None:
        kwargs["path"] = where
    else:
        kwargs.update(dsn=where, options={"table_name": table})
    try:
        return ts.Storage(**kwargs)
    except ts.StorageError as e:
        if "is not built into this library" in str(e):
            raise NotRun(str(e)) from e
        raise
    except TypeError as e:
        # A wheel without durable stores refuses the keyword arguments.
        if "unexpected keyword" in str(e):
            raise NotRun(f"this wheel has no durable Storage (Storage(path=..., backend=...)): {e}") from e
        raise


def close_store(store):
    close = getattr(store, "close", None)
    if close is not None:
        close()


def replay(target, name, scenario, steps, out_file):
    """Runs `steps` over store `name`; `reopen` closes it and opens it again
    (same location, options and clock)."""
    options = scenario.get("store", {})
    clock = ts.ManualClock(options.get("clock", 0))
    store = open_store(target, name, options, clock)
    lines = []
    for i, step in enumerate(steps, start=1):
        try:
            if step["op"] == "reopen":
                if store is None:
                    raise ts.StorageError("closed")
                old, store = store, None
                close_store(old)
                store = open_store(target, name, options, clock)
                result = "ok"
            elif store is None:
                result = "error=closed"
            else:
                result = run_step(store, clock, step)
        except ts.StorageError as e:
            result = f"error={e.code}"
            if step["op"] == "putPath" and e.path is not None:
                result += f" path={e.path}"
        lines.append(f"{i} {step['op']} {result}\n")
    if store is not None:
        close_store(store)
    Path(out_file).write_text("".join(lines), encoding="utf-8")


def run(mode, target, out_dir, path):
    scenario = json.loads(Path(path).read_text(encoding="utf-8"))
    name = scenario["name"]
    writer = scenario.get("writer")
    if mode == "write":
        if writer == "python" and target["backend"] is not None:
            for reader in LANGS:
                replay(target, f"cross.{name}.{reader}", scenario, scenario["write"],
                       Path(out_dir, f"{name}.write.txt"))
        return
    if scenario.get("durable") and target["backend"] is None:
        return  # compare.py reports it as not applicable in memory
    store_name = f"cross.{name}.python" if writer else f"python.{name}"
    replay(target, store_name, scenario, scenario["steps"], Path(out_dir, f"{name}.txt"))


def main(argv):
    args = argv[1:]
    if not args or args[0] not in ("run", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, rest, target = args[0], [], {"backend": None, "at": "", "durability": "fsync"}
    it = iter(args[1:])
    for arg in it:
        if arg in ("--backend", "--at", "--durability"):
            target[arg[2:]] = next(it, "")
        else:
            rest.append(arg)
    if target["backend"] == "memory":
        target["backend"] = None
    if len(rest) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = Path(rest[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for path in rest[1:]:
            run(mode, target, out_dir, path)
    except NotRun as e:
        reason = f"python on {target['backend']}: {e}"
        print(f"parity-python: NOT RUN: {reason}", file=sys.stderr)
        out_dir.joinpath("NOT-RUN").write_text(reason + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
