"""What recording a run costs (``Workflow.inspected``). Prints figures, asserts nothing.

    .venv/bin/python bench/inspector.py          # a few seconds
    .venv/bin/python bench/inspector.py --quick

Off, a run pays one context-variable read (steps are called as they are); on, each step
call is timed, counted and its first elements previewed (thumbnails made then). Runs off
and on are interleaved, so a busy machine slows both alike.
"""

from __future__ import annotations

import statistics
import sys
import timeit

import numpy as np

from engine_overhead import FULL, QUICK, chain, compile_fresh, detect_crop_classify, paired_seconds
from visionflow.inspection.active import ACTIVE


def figure(label: str, workflow, inputs: dict, settings) -> None:
    def off() -> None:
        workflow.run(inputs)

    def on() -> None:
        with workflow.inspected():
            workflow.run(inputs)

    base, recorded = paired_seconds(off, on, settings)
    steps = len(workflow.plan.steps)
    off_ms, on_ms = statistics.median(base) * 1e3, statistics.median(recorded) * 1e3
    print(
        f"  {label:<44} off {off_ms:8.3f} ms   on {on_ms:8.3f} ms   "
        f"+{(on_ms - off_ms) / steps * 1e3:7.1f} us per step call"
    )


def main() -> None:
    settings = QUICK if "--quick" in sys.argv else FULL
    read = min(timeit.repeat(ACTIVE.get, number=100_000, repeat=5)) / 100_000
    print(f"\nRecording off: one ContextVar.get per run = {read * 1e9:.0f} ns")
    print("\nOff vs on, median time of one run")
    ten = compile_fresh(chain(10))
    figure("10 pass-through steps, batch of 1", ten, {"x": [1]}, settings)
    figure("10 pass-through steps, batch of 100", ten, {"x": list(range(100))}, settings)
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    crops = compile_fresh(detect_crop_classify())
    figure("detect, crop, classify, replace: 4 images", crops, {"image": [image] * 4}, settings)


if __name__ == "__main__":
    main()
