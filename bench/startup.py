"""How long the command line takes to start and to validate. Prints figures, asserts nothing.

    .venv/bin/python bench/startup.py            # 7 runs of each command (about 30 s on 2 cores)
    .venv/bin/python bench/startup.py --quick    # 3 runs of each
    .venv/bin/python bench/startup.py --runs 15  # more runs: steadier on a busy machine
    .venv/bin/python bench/startup.py --compare /tmp/before   # against another checkout
    .venv/bin/python bench/startup.py --no-bytecode  # sources compiled at every run

``--compare DIR`` times the same commands on the ``src/`` and ``examples/`` of another
checkout of visionflow too (e.g. ``git archive HEAD src examples | tar -x -C DIR``), with
the same interpreter, its runs alternating with this tree's. Bytecode is cached (outside
the tree, in the temporary folder) as an installed package has it, even where the
environment sets PYTHONDONTWRITEBYTECODE; ``--no-bytecode`` measures without it.

Each command runs in a fresh interpreter (a subprocess), as a user runs it, and is timed
from the start of the process to its end; the table shows the best and the median run.
On a shared machine noise only adds time: the best run is the steadiest estimate; the
CPU column (the best run's user + system time) is less disturbed still.

1. ``visionflow --help`` (target under 0.4 s, issue 16);
2. ``import visionflow`` (the package alone: its public names are imported on use);
3. ``visionflow validate examples/face_emotion.yaml`` (target well under 1 s, issue 15):
   its two models checked against their files, no session started;
4. the same document compiled with its models loaded (``Workflow.compile``), the cost
   validation no longer pays: what ``validate`` took before issue 15.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "visionflow-bench-bytecode"
CLI = [sys.executable, "-c", "from visionflow.cli import main; main()"]
DOCUMENT = "examples/face_emotion.yaml"
FIGURES = [
    ("visionflow --help", [*CLI, "--help"], 0.4),
    ("import visionflow", [sys.executable, "-c", "import visionflow"], None),
    (f"visionflow validate {DOCUMENT}", [*CLI, "validate", DOCUMENT], 1.0),
    (
        f"compile {DOCUMENT}, models loaded",
        [
            sys.executable,
            "-c",
            f"from visionflow import Workflow; Workflow.compile({DOCUMENT!r}).inputs",
        ],
        None,
    ),
]


def environment_for(root: Path, bytecode: bool) -> dict[str, str]:
    """The child's environment: ``root``'s sources first on the path and, unless told
    otherwise, bytecode cached (in a folder of its own, not in the tree), as an installed
    package has it. Without it every run compiles the sources again (~0.7 s on 2 cores)."""
    environment = {**os.environ, "PYTHONPATH": str(root / "src")}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    if bytecode:
        environment["PYTHONPYCACHEPREFIX"] = str(CACHE / hashlib.sha1(bytes(root)).hexdigest())
    else:  # the installed libraries' bytecode is read, the tree's is never written
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def timed(command: list[str], root: Path, environment: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run. CPU time (user + system, the child's) is
    less disturbed by other programs on a busy machine than wall time."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=root, env=environment, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime


def verdict(best: float, target: float | None) -> str:
    return "" if target is None else f"< {target} s {'PASS' if best < target else 'MISS'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of each command")
    parser.add_argument("--runs", type=int, default=None, help="runs of each command")
    parser.add_argument("--compare", type=Path, default=None, help="another checkout to time")
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="compile the sources at every run (as with PYTHONDONTWRITEBYTECODE=1)",
    )
    options = parser.parse_args()
    runs = options.runs or (3 if options.quick else 7)
    roots = {"": ROOT}
    if options.compare is not None:
        roots = {"this tree": ROOT, "compared": options.compare.resolve()}
    print(f"{'command':<52} {'':<10} {'best':>6} {'median':>7} {'CPU best':>9}  target (best)")
    for name, command, target in FIGURES:
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in roots}
        environments = {
            label: environment_for(root, not options.no_bytecode) for label, root in roots.items()
        }
        for label, root in roots.items():
            timed(command, root, environments[label])  # warm: page cache, bytecode written
        for _ in range(runs):
            for label, root in roots.items():
                samples[label].append(timed(command, root, environments[label]))
        for label, taken in samples.items():
            walls = [wall for wall, _ in taken]
            best, median = min(walls), statistics.median(walls)
            cpu = min(seconds for _, seconds in taken)
            print(
                f"{name:<52} {label:<10} {best:>5.2f}s {median:>6.2f}s {cpu:>8.2f}s  "
                f"{verdict(best, target)}"
            )


if __name__ == "__main__":
    main()
