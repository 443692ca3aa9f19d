"""A seeded mutation fuzzer for workflow documents: every document must compile or raise a
``WorkflowError``, quickly.

Seeds are the repository's own documents in all three dialects: ``examples/*.yaml`` and the
document literals of ``tests/test_*.py``. Each fuzzed document is a seed with a few
mutations (fields dropped, duplicated or retyped, wrong selectors, cycles, deep nesting,
odd unicode, huge texts, YAML anchors and aliases, dialects mixed, text corrupted), and is
compiled with ``allow_custom_code=False`` and then ``True`` (compiling a dynamic block only
defines its functions; nothing of a document runs). Same seed, same documents.

    python tests/fuzzing.py --count 10000 --seed 0     # what `make fuzz` runs
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime
import json
import random
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from visionflow import Workflow
from visionflow.errors import WorkflowError

ROOT = Path(__file__).resolve().parents[1]
SLOW_S = 5.0  # a compile slower than this counts against the run
HANG_S = 60.0  # a compile still going after this is stopped and counted as a crash
DOCUMENT_KEYS = {"steps", "inputs", "outputs", "entries", "workflow", "workflow_name"}

ODD_TEXTS = [
    "\ud800",
    "a\udfffb",
    "\x00",
    "\u202e\u200b\u200d",
    "e\u0301\u0301\u0301",
    "\U0001f600",
    "\ufeff",
    "$",
    "$$",
    "$steps.",
    "$inputs.",
    "..",
    "",
    " ",
    "x" * 300,
    "ä" * 257,
    "on",
    "null",
    "{literal: 1}",
]
WRONG_SELECTORS = [
    "$steps.nope.x",
    "$inputs.nope",
    "$steps..",
    "$steps.a.b.c.d",
    "$inputs.image.extra",
    "$steps.*",
    "$steps.x.*",
    "$$inputs.image",
    "$inputs.\ud800",
    "$steps." + "s" * 5000 + ".out",
]


# --- seeds ------------------------------------------------------------------------------------


def seed_documents() -> list[tuple[str, Any]]:
    """(origin, document) for every example file and document literal of the tests."""
    seeds: list[tuple[str, Any]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        seeds.append((f"examples/{path.name}", yaml.safe_load(path.read_text())))
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and _looks_like_document(node):
                try:
                    document = ast.literal_eval(node)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    continue  # built from names or calls: not a literal
                seeds.append((f"tests/{path.name}:{node.lineno}", document))
    return seeds


def _looks_like_document(node: ast.Dict) -> bool:
    keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
    return bool(keys & DOCUMENT_KEYS)


# --- mutations --------------------------------------------------------------------------------


def _containers(value: Any) -> list[Any]:
    """Every dict and list inside ``value`` (itself included), in a stable order."""
    found, waiting, seen = [], [value], set()
    while waiting:
        item = waiting.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            found.append(item)
            waiting.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            found.append(item)
            waiting.extend(reversed(item))
    return found


def _slots(document: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every value, to replace one."""
    slots = []
    for container in _containers(document):
        keys = list(container) if isinstance(container, dict) else range(len(container))
        slots.extend((container, key) for key in keys)
    return slots


def _texts(document: Any) -> list[tuple[Any, Any]]:
    return [(c, k) for c, k in _slots(document) if isinstance(c[k], str)]


def drop_field(rng: random.Random, document: Any) -> Any:
    slots = _slots(document)
    if slots:
        container, key = rng.choice(slots)
        del container[key]
    return document


def duplicate(rng: random.Random, document: Any) -> Any:
    lists = [c for c in _containers(document) if isinstance(c, list) and c]
    if lists:
        items = rng.choice(lists)
        items.insert(rng.randrange(len(items) + 1), copy.deepcopy(rng.choice(items)))
    return document


def retype(rng: random.Random, document: Any) -> Any:
    slots = _slots(document)
    if slots:
        container, key = rng.choice(slots)
        value = container[key]
        container[key] = rng.choice(
            [
                [],
                [value],
                {},
                {"x": value},
                0,
                -1,
                10**30,
                1.5,
                float("nan"),
                None,
                True,
                "x",
                type(value).__name__,
                b"\xff",  # YAML !!binary
                {1, 2},  # YAML !!set
                datetime.date(2026, 12, 7),  # a YAML timestamp
            ]
        )
    return document


def wrong_selector(rng: random.Random, document: Any) -> Any:
    texts = _texts(document)
    selectors = [(c, k) for c, k in texts if c[k].startswith("$")] or texts
    if selectors:
        container, key = rng.choice(selectors)
        container[key] = rng.choice(WRONG_SELECTORS)
    return document


def cycle(rng: random.Random, document: Any) -> Any:
    """A step that reads itself or a later step."""
    steps = document.get("steps") if isinstance(document, dict) else None
    if not isinstance(steps, list) or not steps:
        return wrong_selector(rng, document)
    names = [s.get("name") for s in steps if isinstance(s, dict) and isinstance(s.get("name"), str)]
    selectors = [(c, k) for c, k in _texts(steps) if c[k].startswith("$steps.")]
    if names and selectors:
        container, key = rng.choice(selectors)
        output = container[key].rsplit(".", 1)[-1]
        container[key] = f"$steps.{rng.choice(names)}.{output}"
        if isinstance(document.get("steps"), list):  # Deepomatic: inputs name steps
            for step in document["steps"]:
                if isinstance(step, dict) and isinstance(step.get("inputs"), list):
                    step["inputs"].append(rng.choice(names))
                    break
    return document


def step_field(rng: random.Random, document: Any) -> Any:
    """A field of a step (or a functional value) given another value of the document."""
    steps = _step_like(document)
    if not steps:
        return retype(rng, document)
    step = rng.choice(steps)
    texts = [c[k] for c, k in _texts(document)] or ["x"]
    selectors = [text for text in texts if text.startswith("$")] or ["$inputs.image"]
    key = rng.choice([*step, "extra"]) if isinstance(step, dict) else rng.randrange(len(step))
    step[key] = rng.choice(
        [
            rng.choice(texts),
            rng.choice(selectors),
            rng.sample(selectors, k=min(3, len(selectors))),
            {"a": rng.choice(selectors), "b": rng.choice(texts)},
            [[rng.choice(selectors)]],
            rng.choice([0, -1, 2.5, True, None, "", [], {}]),
        ]
    )
    return document


def _step_like(document: Any) -> list[Any]:
    """The steps of any dialect: native/Deepomatic ``steps`` and functional values."""
    if not isinstance(document, dict):
        return []
    workflow = document.get("workflow")
    found = _non_empty(document.get("steps"))
    if isinstance(workflow, dict):
        found += _non_empty(list(workflow.values())) + _non_empty(workflow.get("steps"))
    return found


def _non_empty(items: Any) -> list[Any]:
    """The non-empty dicts and lists of ``items``, if it is a list."""
    items = items if isinstance(items, list) else []
    return [item for item in items if isinstance(item, dict | list) and item]


def swap(rng: random.Random, document: Any) -> Any:
    slots = _slots(document)
    if len(slots) > 1:
        (first, a), (second, b) = rng.sample(slots, k=2)
        if not (_holds(second[b], first) or _holds(first[a], second)):  # no value in itself
            first[a], second[b] = second[b], first[a]
    return document


def _holds(value: Any, container: Any) -> bool:
    return any(item is container for item in _containers(value))


def deep_nesting(rng: random.Random, document: Any) -> Any:
    slots = _slots(document) or [(document, "x")]
    container, key = rng.choice(slots)
    value: Any = container[key] if key in container or isinstance(container, list) else 1
    for _ in range(rng.choice([50, 70, 300, 900, 3000])):
        value = {"a": value} if rng.random() < 0.5 else [value]
    container[key] = value
    return document


def odd_unicode(rng: random.Random, document: Any) -> Any:
    if rng.random() < 0.5:
        dicts = [c for c in _containers(document) if isinstance(c, dict) and c]
        if dicts:
            mapping = rng.choice(dicts)
            key = rng.choice(list(mapping))
            mapping[rng.choice(ODD_TEXTS)] = mapping.pop(key)
            return document
    texts = _texts(document)
    if texts:
        container, key = rng.choice(texts)
        container[key] = rng.choice([container[key], ""]) + rng.choice(ODD_TEXTS)
    return document


def huge_text(rng: random.Random, document: Any) -> Any:
    slots = _slots(document) or [(document, "x")]
    container, key = rng.choice(slots)
    size = rng.choice([10_000, 300_000, 1_500_000, 2_100_000])
    container[key] = rng.choice(["a", "$", "é", "[", " "]) * size
    return document


def many_values(rng: random.Random, document: Any) -> Any:
    """Many steps, inputs or items: a document that is large without being deep."""
    lists = [c for c in _containers(document) if isinstance(c, list) and c]
    if lists:
        items = rng.choice(lists)
        items.extend([items[0]] * rng.choice([100, 2000, 40_000]))  # one value, many places
    return document


def mix_dialects(rng: random.Random, document: Any, seeds: list[Any]) -> Any:
    other = rng.choice(seeds)
    if isinstance(document, dict) and isinstance(other, dict) and other:
        for key in rng.sample(list(other), k=min(len(other), rng.randint(1, 3))):
            document[key] = copy.deepcopy(other[key])
    return document


Mutation = Callable[[random.Random, Any], Any]
MUTATIONS: list[Mutation] = [
    drop_field,
    duplicate,
    retype,
    wrong_selector,
    cycle,
    odd_unicode,
    step_field,
    step_field,
    swap,
]
LAST_MUTATIONS: list[Mutation] = [deep_nesting, huge_text, many_values]  # too big to go on


# --- as text ----------------------------------------------------------------------------------

ALIAS_BOMB = "\n".join(
    [f"a0: &a0 [{', '.join(['lol'] * 9)}]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
)
MERGE_BOMB = "\n".join(
    ["m0: &m0 {a: 1, b: 2}", "m1: &m1 {c: 3, <<: *m0}"]
    + [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 2}]}}" for i in range(2, 40)]
)


def as_text(rng: random.Random, document: Any) -> Any:
    """The document as JSON or YAML text, sometimes with aliases, bombs or corruption."""
    choice = rng.randrange(7)
    if choice == 0:
        return _json_text(document)
    if choice == 1:
        shared = [c for c in _containers(document) if c is not document][:3]
        if isinstance(document, dict) and shared:
            document["extra"] = shared  # yaml.dump writes anchors and aliases for these
        return _yaml_text(document)
    if choice == 2:
        return rng.choice([ALIAS_BOMB, MERGE_BOMB, "a: &a [*a]", "a: &a {b: *a}", "*x"])
    if choice == 3:
        return _yaml_text(document) + "\n" + rng.choice([ALIAS_BOMB, MERGE_BOMB])
    if choice == 4:
        text = _json_text(document)
        cut = rng.randrange(len(text) + 1)
        return text[:cut] + rng.choice(["", "}", "]", "\x00", "\ud800", '"', "\\u"]) + text[cut:]
    if choice == 5:
        text = _yaml_text(document)
        cut = rng.randrange(len(text) + 1)
        return (
            text[:cut]
            + rng.choice(["\n  - ", ": ", "&a ", "*a", "!!binary x", "!!set {}", "\t", "? "])
            + text[cut:]
        )
    return rng.choice(
        [
            "[" * 5000,
            "{" * 5000,
            "- " * 3000,
            "a: " + "9" * 5000,
            "",
            "null",
            "[]",
            "1",
            "--- a\n--- b",
        ]
    )


def _yaml_text(document: Any) -> str:
    try:
        return yaml.dump(document, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        return _json_text(document)


def _json_text(document: Any) -> str:
    try:
        return json.dumps(document, default=str)
    except (RecursionError, ValueError):
        return '{"steps": ' + "[" * 3000 + "]" * 3000 + "}"  # too deep to write: deep anyway


def fuzzed_documents(seed: int, count: int) -> Iterator[Any]:
    """``count`` mutated documents, the same for the same ``seed``."""
    rng = random.Random(seed)
    seeds = [document for _, document in seed_documents()]
    for _ in range(count):
        document = copy.deepcopy(rng.choice(seeds))
        for _ in range(rng.choice([1, 1, 2, 3])):
            if rng.random() < 0.1:
                document = mix_dialects(rng, document, seeds)
            else:
                document = rng.choice(MUTATIONS)(rng, document)
        if rng.random() < 0.25:
            document = rng.choice(LAST_MUTATIONS)(rng, document)
        yield as_text(rng, document) if rng.random() < 0.2 else document


# --- running ----------------------------------------------------------------------------------


@dataclass
class Report:
    compiled: int = 0
    refused: Counter = field(default_factory=Counter)  # WorkflowError code -> count
    crashes: list[tuple[int, bool, str]] = field(default_factory=list)  # (doc, custom, what)
    slow: list[tuple[float, int, bool]] = field(default_factory=list)  # (seconds, doc, custom)
    slowest: list[tuple[float, int, bool]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"compiled {self.compiled}, refused {sum(self.refused.values())} "
            f"({len(self.refused)} codes), crashes {len(self.crashes)}, "
            f"over {SLOW_S:g} s {len(self.slow)}",
            "refused by code: " + ", ".join(f"{c} {n}" for c, n in self.refused.most_common()),
            "slowest: "
            + ", ".join(f"#{d}{'+code' if c else ''} {s:.2f} s" for s, d, c in self.slowest),
        ]
        kinds = Counter(what for _, _, what in self.crashes)
        lines += [f"crash x{n}: {what}" for what, n in kinds.most_common()]
        return "\n".join(lines)


class _TooLong(BaseException):
    """Raised by the timer inside a compile that runs past ``HANG_S``."""


def _stop(signum: int, frame: Any) -> None:
    raise _TooLong


def compile_one(document: Any, allow_custom_code: bool) -> str | None:
    """None if compiled, the error code if refused; anything else is raised."""
    try:
        Workflow.compile(document, allow_custom_code=allow_custom_code, cache=False)
    except WorkflowError as error:
        assert error.code and error.message, error
        return error.code
    return None


def run(seed: int, count: int, progress: bool = False) -> Report:
    report = Report()
    timer = signal.signal(signal.SIGALRM, _stop)
    started = time.perf_counter()
    try:
        for number, document in enumerate(fuzzed_documents(seed, count)):
            for allow_custom_code in (False, True):
                _one(report, number, document, allow_custom_code)
            if progress and (number + 1) % 250 == 0:
                spent = time.perf_counter() - started
                print(
                    f"\r{number + 1}/{count} documents, {len(report.crashes)} crashes, "
                    f"{len(report.slow)} slow, {spent:.0f} s",
                    end="",
                    file=sys.stderr,
                )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, timer)
    if progress:
        print(file=sys.stderr)
    report.slowest = sorted(report.slowest, reverse=True)[:5]
    return report


def _one(report: Report, number: int, document: Any, allow_custom_code: bool) -> None:
    signal.setitimer(signal.ITIMER_REAL, HANG_S)
    start = time.perf_counter()
    try:
        code = compile_one(document, allow_custom_code)
    except _TooLong:
        report.crashes.append((number, allow_custom_code, f"still compiling after {HANG_S} s"))
        code = "hang"
    except Exception as error:  # what the fuzzer looks for: anything but a WorkflowError
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        report.crashes.append((number, allow_custom_code, f"{type(error).__name__} at {where}"))
        code = "crash"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    spent = time.perf_counter() - start
    if code is None:
        report.compiled += 1
    elif code not in ("crash", "hang"):
        report.refused[code] += 1
    if spent > SLOW_S:
        report.slow.append((spent, number, allow_custom_code))
    report.slowest = sorted([*report.slowest, (spent, number, allow_custom_code)])[-5:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    print(
        f"{len(seed_documents())} seed documents; fuzzing {arguments.count} "
        f"(seed {arguments.seed}), each compiled without and with custom code"
    )
    report = run(arguments.seed, arguments.count, progress=True)
    print(report.summary())
    return 1 if report.crashes or report.slow else 0


if __name__ == "__main__":
    sys.exit(main())
