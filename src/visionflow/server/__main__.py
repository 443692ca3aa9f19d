"""``python -m visionflow.server [--port 9001 ...]``: the same as ``visionflow serve``."""

import sys

from visionflow.cli import app

app(["serve", *sys.argv[1:]], prog_name="python -m visionflow.server")
