#!/usr/bin/env python3
"""Compares parity transcripts (see tests/parity/README.md).

usage: compare.py [--allow-not-run] SCENARIO_DIR TRANSCRIPT_ROOT BACKENDS LANGS

BACKENDS and LANGS are comma-separated. TRANSCRIPT_ROOT/<backend>/<lang>/
holds one <scenario>.txt per scenario (and <scenario>.write.txt from the
writer of a cross-language scenario), or a file NOT-RUN saying why that
language could not run on that backend.

For each backend, checks that every transcript line matches the step's
`expect` (where given) and that all languages wrote byte-identical
transcripts. Every difference is reported with its backend, scenario, step,
op and the first differing position. A durable scenario (reopen,
cross-language) on the memory backend is reported as not applicable. A
language that did not run (or a step its API for that backend lacks, written
`unsupported: <what>`) is reported as NOT RUN with its reason, and fails the
comparison unless --allow-not-run is given. Ends with a table of the
scenarios each language passed on each backend and exits 1 on any failure.
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


UNSUPPORTED = "unsupported:"


def unsupported_steps(lines):
    """Steps a runner could not replay because its language's API for this
    backend has no such call (the line says `unsupported: <what>`)."""
    out = []
    for line in lines:
        number, _, rest = line.partition(" ")
        _, _, result = rest.partition(" ")
        if result.startswith(UNSUPPORTED):
            out.append((number, result[len(UNSUPPORTED):].strip()))
    return out


def expected(step, backend):
    """The expected result on `backend`: `expectOn[backend]`, else (on a
    durable backend) `expectOn["durable"]`, else `expect` (README,
    "Operations and transcript lines")."""
    on = step.get("expectOn", {})
    if backend in on:
        return on[backend]
    if backend != "memory" and "durable" in on:
        return on["durable"]
    return step.get("expect")


def load_divergences(path):
    """{(lang, scenario): {step: reason}} per backend kind, from
    divergences.json (README, "Known divergences")."""
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def diverging(divergences, lang, scenario, backend):
    """{step number: reason} of the known divergences that apply."""
    out = {}
    for d in divergences:
        kind = d.get("backends", "durable")
        applies = kind == "all" or kind == backend or (kind == "durable" and backend != "memory")
        if d["lang"] == lang and d["scenario"] == scenario and applies:
            for step in d["steps"]:
                out[step] = d["reason"]
    return out


def problems_of(lines, steps, backend, skip=()):
    """How a transcript departs from its steps' ops and expected results
    (steps the runner could not replay, and the known divergences `skip`,
    are not compared)."""
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
        if line[len(prefix):].startswith(UNSUPPORTED) or i + 1 in skip:
            continue
        want = expected(step, backend)
        if want is not None and line[len(prefix):] != want:
            got = line[len(prefix):]
            key = ' ' + repr(step['key'][:40]) if 'key' in step else ''
            problems.append(f"    step {i + 1} ({step['op']}{key}): unexpected result\n"
                            + describe("expected", want, "got     ", got))
    return problems


def report(label, problems):
    print(f"FAIL {label}")
    if problems:
        print("\n".join(problems[:10]))
    if len(problems) > 10:
        print(f"    ... and {len(problems) - 10} more")


class Tally:
    """Counts per (backend, language): passed, failed, not run, n/a."""

    def __init__(self):
        self.cells = {}
        self.agreement = {}

    def add(self, backend, lang, outcome):
        cell = self.cells.setdefault((backend, lang), {"pass": 0, "FAIL": 0, "not run": 0, "diverges": 0, "n/a": 0})
        cell[outcome] += 1

    def agree(self, backend, ok):
        cell = self.agreement.setdefault(backend, {"pass": 0, "FAIL": 0})
        cell["pass" if ok else "FAIL"] += 1

    def print_table(self, backends, langs):
        print("\nscenarios passed per backend and language (failed / not run / not applicable when any):")
        print("  " + f"{'backend':<10}" + "".join(f"{lang:<26}" for lang in langs) + "agreement")
        for backend in backends:
            row = f"  {backend:<10}"
            for lang in langs:
                c = self.cells.get((backend, lang), {})
                extra = [f"{c[k]} {k}" for k in ("FAIL", "not run", "diverges", "n/a") if c.get(k)]
                row += f"{str(c.get('pass', 0)) + (' (' + ', '.join(extra) + ')' if extra else ''):<26}"
            a = self.agreement.get(backend, {})
            row += f"{a.get('pass', 0)}" + (f" ({a['FAIL']} FAIL)" if a.get("FAIL") else "")
            print(row)


def compare_backend(scenarios, root, backend, langs, tally, divergences):
    """Checks one backend's transcripts; returns the number of failures."""
    failed = not_run_steps = 0
    not_run = {}
    for lang in langs:
        marker = root / backend / lang / "NOT-RUN"
        if marker.exists():
            not_run[lang] = marker.read_text(encoding="utf-8").strip()
            print(f"NOT RUN [{lang}] on {backend}: {not_run[lang]}")
    for scenario in scenarios:
        name, steps = scenario["name"], scenario["steps"]
        if scenario.get("durable") and backend == "memory":
            print(f"n/a  {name} [memory]: a durable scenario (reopen, cross-language) needs a store on disk")
            for lang in langs:
                tally.add(backend, lang, "n/a")
            continue
        writer = scenario.get("writer")
        if writer in not_run:
            print(f"NOT RUN {name} on {backend}: its writer, {writer}, did not run, so no language read its store")
            for lang in langs:
                tally.add(backend, lang, "not run")
            not_run_steps += 1
            continue
        if writer:
            file = root / backend / writer / f"{name}.write.txt"
            if not file.exists():
                report(f"{name} [{backend}, written by {writer}]: no transcript at {file}", [])
                failed += 1
            else:
                problems = problems_of(file.read_text(encoding="utf-8").splitlines(), scenario["write"], backend)
                if problems:
                    failed += 1
                    report(f"{name} [{backend}, written by {writer}]: differs from the expected results", problems)
        transcripts = {}
        for lang in langs:
            if lang in not_run:
                tally.add(backend, lang, "not run")
                continue
            file = root / backend / lang / f"{name}.txt"
            if not file.exists():
                print(f"FAIL {name} [{backend}, {lang}]: no transcript at {file}")
                failed += 1
                tally.add(backend, lang, "FAIL")
                continue
            lines = file.read_text(encoding="utf-8").splitlines()
            transcripts[lang] = lines
            known = diverging(divergences, lang, name, backend)
            problems = problems_of(lines, steps, backend, known)
            if known:
                not_run_steps += 1
                whys = sorted(set(known.values()))
                print(f"DIVERGES {name} [{backend}, {lang}]: steps {', '.join(map(str, sorted(known)))} not compared "
                      f"(known divergence, tests/parity/divergences.json): {'; '.join(whys)}")
            unsupported = unsupported_steps(lines)
            if problems:
                failed += 1
                tally.add(backend, lang, "FAIL")
                report(f"{name} [{backend}, {lang}]: differs from the expected results", problems)
            elif known:
                tally.add(backend, lang, "diverges")
            elif unsupported:
                not_run_steps += 1
                tally.add(backend, lang, "not run")
                whats = sorted({what for _, what in unsupported})
                print(f"NOT RUN {name} [{backend}, {lang}]: {len(unsupported)} of {len(steps)} steps "
                      f"not replayed, the API has no {', '.join(whats)}")
            else:
                tally.add(backend, lang, "pass")
        # Agreement: every language's transcript equals the first one's.
        if len(transcripts) > 1:
            (ref_lang, ref), *others = transcripts.items()
            disagreements = []
            for lang, lines in others:
                for i in range(max(len(ref), len(lines))):
                    a = ref[i] if i < len(ref) else "<missing>"
                    b = lines[i] if i < len(lines) else "<missing>"
                    if UNSUPPORTED in a or UNSUPPORTED in b:
                        continue
                    if i + 1 in diverging(divergences, lang, name, backend) or \
                            i + 1 in diverging(divergences, ref_lang, name, backend):
                        continue
                    if a != b:
                        op = steps[i]["op"] if i < len(steps) else "?"
                        disagreements.append(f"    step {i + 1} ({op}): {ref_lang} and {lang} differ\n"
                                             + describe(ref_lang, a, lang, b))
                        break
            tally.agree(backend, not disagreements)
            if disagreements:
                failed += 1
                report(f"{name} [{backend}]: languages disagree", disagreements)
    return failed, len(not_run) + not_run_steps


def main(argv):
    allow_not_run = "--allow-not-run" in argv
    args = [a for a in argv[1:] if a != "--allow-not-run"]
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    scenario_dir, root = Path(args[0]), Path(args[1])
    backends, langs = args[2].split(","), args[3].split(",")
    scenarios = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(scenario_dir.glob("*.json"))]
    tally = Tally()
    divergences = load_divergences(scenario_dir.parent / "divergences.json")
    failed = not_run = 0
    for backend in backends:
        f, n = compare_backend(scenarios, root, backend, langs, tally, divergences)
        failed += f
        not_run += n
    tally.print_table(backends, langs)
    verdict = f"{failed} failed"
    if not_run:
        verdict += f", {not_run} language runs or scenarios NOT RUN or DIVERGING (listed above)"
        if not allow_not_run:
            verdict += ": a language that cannot run fails the suite"
            failed += not_run
    print(verdict)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
