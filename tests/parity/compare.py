#!/usr/bin/env python3
"""Compares parity transcripts (see tests/parity/README.md).

usage: compare.py SCENARIO_DIR TRANSCRIPT_ROOT LANG...

TRANSCRIPT_ROOT/<lang>/<scenario>.txt must exist for every scenario and
language. Checks that every transcript line matches the step's `expect`
(where given) and that all languages wrote byte-identical transcripts.
Every difference is reported with its scenario, step, op and the first
differing position. Ends with 'N passed, N failed' (one check per scenario
and language, plus one agreement check per scenario) and exits 1 on any
failure.
"""
import json
import sys
from pathlib import Path


def shorten(text, at, width=60):
    """`text` around position `at`, elided to stay readable."""
    start = max(0, at - width // 2)
    end = min(len(text), start + width)
    return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe(label_a, a, label_b, b):
    at = first_difference(a, b)
    return (f"      {label_a}: {shorten(a, at)}\n"
            f"      {label_b}: {shorten(b, at)}\n"
            f"      first difference at character {at}")


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    scenario_dir, root, langs = Path(argv[1]), Path(argv[2]), argv[3:]
    passed = failed = 0
    for path in sorted(scenario_dir.glob("*.json")):
        scenario = json.loads(path.read_text(encoding="utf-8"))
        name, steps = scenario["name"], scenario["steps"]
        transcripts = {}
        for lang in langs:
            file = root / lang / f"{name}.txt"
            if not file.exists():
                print(f"FAIL {name} [{lang}]: no transcript at {file}")
                failed += 1
                continue
            lines = file.read_text(encoding="utf-8").splitlines()
            transcripts[lang] = lines
            problems = []
            if len(lines) != len(steps):
                problems.append(f"    {len(lines)} lines for {len(steps)} steps")
            for i, step in enumerate(steps):
                if i >= len(lines):
                    break
                prefix = f"{i + 1} {step['op']} "
                line = lines[i]
                if not line.startswith(prefix):
                    problems.append(f"    step {i + 1} ({step['op']}): line is out of step: {shorten(line, 0)}")
                    break
                if "expect" in step and line[len(prefix):] != step["expect"]:
                    got = line[len(prefix):]
                    problems.append(f"    step {i + 1} ({step['op']}{' ' + repr(step['key'][:40]) if 'key' in step else ''}): unexpected result\n"
                                    + describe("expected", step["expect"], "got     ", got))
            if problems:
                failed += 1
                print(f"FAIL {name} [{lang}]: differs from the expected results")
                print("\n".join(problems[:10]))
                if len(problems) > 10:
                    print(f"    ... and {len(problems) - 10} more")
            else:
                passed += 1
        # Agreement: every language's transcript equals the first one's.
        if len(transcripts) > 1:
            (ref_lang, ref), *others = transcripts.items()
            disagreements = []
            for lang, lines in others:
                for i in range(max(len(ref), len(lines))):
                    a = ref[i] if i < len(ref) else "<missing>"
                    b = lines[i] if i < len(lines) else "<missing>"
                    if a != b:
                        op = steps[i]["op"] if i < len(steps) else "?"
                        disagreements.append(f"    step {i + 1} ({op}): {ref_lang} and {lang} differ\n"
                                             + describe(ref_lang, a, lang, b))
                        break
            if disagreements:
                failed += 1
                print(f"FAIL {name}: languages disagree")
                print("\n".join(disagreements))
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
