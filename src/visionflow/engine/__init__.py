"""The engine: runs a Plan on runtime inputs and builds one result dict per input element."""

from visionflow.engine.executor import Executor

__all__ = ["Executor"]
