"""`make demo`: run examples/first_workflow.yaml on real images and print the results.

The images come from scikit-image's sample data (no download); the Brightness block is
loaded as a plugin from examples/brightness_plugin.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
from skimage import data

EXAMPLES = Path(__file__).resolve().parent
OUTPUT = EXAMPLES.parent / "demo-output"


def sample_images() -> dict[str, Path]:
    OUTPUT.mkdir(exist_ok=True)
    paths = {}
    for name in ("astronaut", "coffee", "chelsea"):
        path = OUTPUT / f"{name}.png"
        if not path.exists():
            cv2.imwrite(str(path), getattr(data, name)()[:, :, ::-1])  # RGB -> BGR
        paths[name] = path
    return paths


def main() -> int:
    sys.path.insert(0, str(EXAMPLES))
    os.environ.setdefault("VISIONFLOW_PLUGINS", "brightness_plugin")
    from visionflow import Workflow

    images = sample_images()
    workflow = Workflow.compile(EXAMPLES / "first_workflow.yaml")
    results = workflow.run(
        image=[str(p) for p in images.values()], min_brightness=120.0, serialize=True
    )
    print(f"visionflow demo: {EXAMPLES / 'first_workflow.yaml'} on {len(images)} images\n")
    for name, result in zip(images, results, strict=True):
        print(f"{name}: {json.dumps(result)}")
    print("\nSame from the command line:")
    print(
        f"  VISIONFLOW_PLUGINS=brightness_plugin PYTHONPATH=examples visionflow run "
        f"examples/first_workflow.yaml --input image={images['coffee']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
