"""Test markers shared by several test modules."""

from __future__ import annotations

import importlib.util

import pytest


def installed(*packages: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in packages)


needs_face_detector = pytest.mark.skipif(
    not installed("mediapipe", "ai_edge_litert"),
    reason="the zoo face detector ships in mediapipe and runs on ai-edge-litert",
)
