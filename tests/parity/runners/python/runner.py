"""The Python parity runner (see tests/parity/README.md).

usage: runner.py OUT_DIR SCENARIO.json...

Replays each scenario against the installed `topgun_storage` wheel and
writes OUT_DIR/<name>.txt, one line per step. Values given as JSON are
passed as plain dicts (Python's native form); values read back are Python
objects, encoded again with `topgun_storage.encode`.
"""
import json
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


def run(out_dir, path):
    scenario = json.loads(Path(path).read_text(encoding="utf-8"))
    options = scenario.get("store", {})
    clock = ts.ManualClock(options.get("clock", 0))
    store = ts.Storage(
        ttl=options.get("ttl") or None,
        max_idle=options.get("maxIdle") or None,
        max_entries=options.get("maxEntries") or None,
        max_cost=options.get("maxCost") or None,
        eviction=options.get("eviction", "none"),
        samples=options.get("samples", 15),
        clock=clock,
    )
    lines = []
    for i, step in enumerate(scenario["steps"], start=1):
        try:
            result = run_step(store, clock, step)
        except ts.StorageError as e:
            result = f"error={e.code}"
            if step["op"] == "putPath" and e.path is not None:
                result += f" path={e.path}"
        lines.append(f"{i} {step['op']} {result}\n")
    Path(out_dir, scenario["name"] + ".txt").write_text("".join(lines), encoding="utf-8")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    Path(argv[1]).mkdir(parents=True, exist_ok=True)
    for path in argv[2:]:
        run(argv[1], path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
