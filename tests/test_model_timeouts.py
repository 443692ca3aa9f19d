"""A model call that times out stops its work; a hung model has a default bound; the process
exits promptly after a timeout. Real onnxruntime sessions of a model built here that loops
for as long as it is told (days, when told to hang)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from test_model_pool import Unstoppable
from visionflow import Workflow
from visionflow.errors import (
    ModelError,
    ModelOverloadedError,
    ModelTimeoutError,
    StepExecutionError,
)
from visionflow.models import spec as spec_module
from visionflow.models.library import ModelLibrary, ModelLimits
from visionflow.models.pool import ModelPool
from visionflow.models.runtime import RunHandle, RunStoppedError, open_session
from visionflow.models.spec import DEFAULT_TIMEOUT_MS, PerformanceSettings

HANG = 10**12  # loop passes: days of work
WIDTH = 3 * 8 * 8  # the model's input: one 8x8 colour image (or any 192 values)


def looping_model(path: Path, steps: int | None = None) -> Path:
    """An image model, y = the image's 192 values, after ``steps`` passes of a Loop (y @ I
    each pass); without ``steps`` the count is a second input, ``steps`` (one per element,
    the largest is used). onnxruntime checks for a stop between two operators, so each pass
    is short (a few µs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    eye = numpy_helper.from_array(np.eye(WIDTH, dtype=np.float32), name="eye")
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "eye"], ["h_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "pass",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, None),
        ],
    )
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 8, 8])]
    constants = [eye, numpy_helper.from_array(np.array(True), name="go_on")]
    nodes = [
        helper.make_node("Flatten", ["images"], ["x"], axis=1),
        helper.make_node("Loop", ["count", "go_on", "x"], ["y"], body=body),
    ]
    if steps is None:
        inputs.append(helper.make_tensor_value_info("steps", TensorProto.INT64, ["batch"]))
        nodes.append(helper.make_node("ReduceMax", ["steps"], ["count"], keepdims=0))
    else:
        constants.append(numpy_helper.from_array(np.array(steps, dtype=np.int64), name="count"))
    graph = helper.make_graph(
        nodes,
        "looping",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDTH])],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def looping(tmp_path_factory) -> Path:
    return looping_model(tmp_path_factory.mktemp("m") / "looping.onnx")


def call(value: float, steps: int) -> list[np.ndarray]:
    """One element: its image and how many passes the model makes."""
    return [np.full((3, 8, 8), value, dtype=np.float32), np.array(steps, dtype=np.int64)]


def pool_for(path: Path, **settings) -> ModelPool:
    return ModelPool("looping", lambda: open_session(path), PerformanceSettings(**settings))


def model_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("visionflow-model-looping")]


def cpu_seconds_over(seconds: float) -> float:
    """CPU time this whole process used while the test thread slept ``seconds``."""
    start = time.process_time()
    time.sleep(seconds)
    return time.process_time() - start


def until(condition, seconds: float = 20.0) -> bool:
    """Whether ``condition()`` became true within ``seconds`` (a bound, not a measurement)."""
    give_up = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    return True


# --- the session: a run can be stopped from another thread -------------------------------


def test_a_stopped_onnx_run_raises_run_stopped(looping):
    session = open_session(looping)
    handle = RunHandle()
    stopper = threading.Timer(0.1, handle.stop)
    stopper.start()
    with pytest.raises(RunStoppedError, match="the call was stopped"):
        session.run([np.ones((1, 3, 8, 8), np.float32), np.array([HANG])], handle)
    stopper.join()
    assert session.stoppable
    # the session is whole after a stop, and a handle stopped before the run stops it at once
    answer = session.run([np.full((1, 3, 8, 8), 3.0, np.float32), np.array([5])], RunHandle())
    assert answer[0].tolist() == [[3.0] * WIDTH]
    stopped = RunHandle()
    stopped.stop()
    with pytest.raises(RunStoppedError):
        session.run([np.ones((1, 3, 8, 8), np.float32), np.array([HANG])], stopped)


# --- the pool: a timed-out call stops its run and the pool keeps serving ------------------


def test_a_call_past_its_timeout_fails_and_its_run_is_stopped(looping):
    pool = pool_for(looping, timeout_ms=200)
    with pytest.raises(ModelTimeoutError) as timed_out:
        pool.infer([call(1.0, HANG)])
    assert timed_out.value.code == "model_timeout"
    assert timed_out.value.message == "model 'looping' did not answer within 200 ms"
    figures = pool.metrics.snapshot()
    assert (figures["timeouts"], figures["stopped_runs"]) == (1, 1)
    # the run ended: this process (idle test thread, idle pool) uses almost no CPU now, where
    # the loop, had it gone on, would use a whole core
    assert cpu_seconds_over(1.0) < 0.3
    assert pool.infer([call(2.0, 3)])[0][0].tolist() == [2.0] * WIDTH  # serving again
    pool.close()


def test_a_queued_call_past_its_timeout_stops_its_worker_run(looping):
    # a batching delay sends every call through the queue to a worker
    pool = pool_for(looping, timeout_ms=200, max_batch_delay_ms=1)
    with pytest.raises(ModelTimeoutError, match="did not answer within 200 ms"):
        pool.infer([call(1.0, HANG)])
    assert until(lambda: pool.metrics.snapshot()["stopped_runs"] == 1)
    assert cpu_seconds_over(1.0) < 0.3
    assert pool.infer([call(4.0, 3)])[0][0].tolist() == [4.0] * WIDTH
    pool.close(wait_seconds=20)
    assert model_threads() == []  # a worker cannot leave while its run goes on


def test_a_run_shared_with_a_caller_still_waiting_goes_on(looping):
    # two callers in one batch: the first gives up, the run serves the second to the end
    # (the batch waits for its second element as long as it takes: 10 s of delay)
    pool = pool_for(looping, batch_size=2, max_batch_delay_ms=10_000, timeout_ms=30_000)
    answers: list = []
    patient = threading.Thread(target=lambda: answers.append(pool.infer([call(7.0, 500_000)])))
    patient.start()
    assert until(lambda: pool.queue_depth == 1)
    pool.settings = pool.settings.model_copy(update={"timeout_ms": 100})  # for the next caller
    with pytest.raises(ModelTimeoutError):
        pool.infer([call(1.0, 500_000)])  # a second or so of work: far more than 100 ms
    patient.join(30)
    assert answers[0][0][0].tolist() == [7.0] * WIDTH
    assert pool.metrics.snapshot()["stopped_runs"] == 0
    pool.close()


def test_a_run_that_cannot_be_stopped_retires_its_worker_and_another_serves(looping):
    # a million passes: a few seconds of work that nothing can interrupt
    opened: list[Unstoppable] = []

    def open_one() -> Unstoppable:
        opened.append(Unstoppable(looping))
        return opened[-1]

    pool = ModelPool("looping", open_one, PerformanceSettings(timeout_ms=50))
    with pytest.raises(ModelTimeoutError):
        pool.infer([call(1.0, 1_000_000)])
    assert until(lambda: pool.metrics.snapshot()["stopped_runs"] == 1)
    assert pool.infer([call(5.0, 3)])[0][0].tolist() == [5.0] * WIDTH
    assert len(opened) == 2  # the answer came from a new worker's own session
    assert pool.workers == 1  # the retired worker is not counted
    pool.close(wait_seconds=60)
    assert model_threads() == []  # the retired worker left once its run was over


@pytest.mark.parametrize("delay_ms", [0, 1])  # on the caller's thread, through a worker
def test_many_timeouts_with_retries_open_no_session_or_thread(looping, delay_ms):
    opened: list = []

    def open_one():
        opened.append(open_session(looping))
        return opened[-1]

    settings = PerformanceSettings(timeout_ms=30, retry_attempts=2, max_batch_delay_ms=delay_ms)
    pool = ModelPool("looping", open_one, settings)
    pool.infer([call(2.0, 3)])  # the worker and the deadline thread have started
    threads = len(threading.enumerate())
    for _ in range(20):
        with pytest.raises(ModelTimeoutError):
            pool.infer([call(1.0, HANG)])
    # Every run that started was stopped. Through a worker, a call can time out before its
    # element left the queue (the stopped run before it still ending, on a busy machine):
    # it is dropped unrun, so count the runs made (the first batch answered in time).
    def started() -> int:
        return pool.metrics.snapshot()["batches"] - 1

    assert until(lambda: pool.metrics.snapshot()["stopped_runs"] == started())
    figures = pool.metrics.snapshot()
    assert 1 <= started() <= 20
    assert (figures["timeouts"], figures["failures"]) == (20, 0)  # a stopped run is no retry
    assert len(opened) == 1
    assert len(threading.enumerate()) == threads
    assert pool.infer([call(3.0, 3)])[0][0].tolist() == [3.0] * WIDTH
    pool.close(wait_seconds=20)
    assert model_threads() == []


def test_runs_that_cannot_be_stopped_take_at_most_max_workers_sessions_beside_the_pool(looping):
    # Before: each timed-out call of a hung LiteRT-like model left its run computing and
    # opened a new session for the next one, which hung too: a core more per call, unbounded.
    opened: list[Unstoppable] = []

    def open_one() -> Unstoppable:
        opened.append(Unstoppable(looping))
        return opened[-1]

    pool = ModelPool("looping", open_one, PerformanceSettings(timeout_ms=50))
    for _ in range(2):  # each a few seconds of work that nothing can interrupt
        with pytest.raises(ModelTimeoutError):
            pool.infer([call(1.0, 1_000_000)])
    assert until(lambda: pool.workers == 0)  # the second run's worker left, not replaced
    with pytest.raises(ModelOverloadedError) as busy:  # a temporary refusal: waiting helps
        pool.infer([call(1.0, 3)])
    assert busy.value.message == (
        "model 'looping' is busy: 2 runs past their deadline cannot be stopped and still compute"
    )
    assert len(opened) == 2  # no third session while two runs go on
    # once a run ends, a new worker takes the place left: the pool serves again
    assert until(lambda: pool.workers == 1, seconds=60)
    assert pool.infer([call(8.0, 3)])[0][0].tolist() == [8.0] * WIDTH
    assert len(opened) == 3
    pool.close(wait_seconds=60)
    assert model_threads() == []


# --- the default bound -------------------------------------------------------------------


def test_every_call_has_a_default_bound():
    assert DEFAULT_TIMEOUT_MS == 60_000
    assert PerformanceSettings().call_timeout_ms == 60_000
    assert PerformanceSettings(timeout_ms=250).call_timeout_ms == 250


def test_a_hung_model_with_no_timeout_set_anywhere_meets_the_default_bound(looping, monkeypatch):
    monkeypatch.setattr(spec_module, "DEFAULT_TIMEOUT_MS", 200.0)  # 60 s is long for a test
    pool = pool_for(looping)
    with pytest.raises(ModelTimeoutError, match="model 'looping' did not answer within 200 ms"):
        pool.infer([call(1.0, HANG)])
    assert pool.metrics.snapshot()["stopped_runs"] == 1
    pool.close()


def test_past_the_default_bound_a_run_that_cannot_be_stopped_is_left_to_its_caller(
    looping, monkeypatch
):
    # Without timeout_ms such a call runs on its caller's thread (no hand-off): at the bound
    # the pool gives up the session (a new one serves the others), and the caller gets the
    # timeout once the run ends. (60 s is long for a test: the bound is lowered here.)
    monkeypatch.setattr(spec_module, "DEFAULT_TIMEOUT_MS", 100.0)
    opened: list[Unstoppable] = []

    def open_one() -> Unstoppable:
        opened.append(Unstoppable(looping))
        return opened[-1]

    pool = ModelPool("looping", open_one, PerformanceSettings())
    outcome: list[BaseException] = []

    def stuck_caller() -> None:
        try:
            pool.infer([call(1.0, 1_000_000)])  # a few seconds of work
        except ModelTimeoutError as error:
            outcome.append(error)

    caller = threading.Thread(target=stuck_caller)
    caller.start()
    assert until(lambda: pool.metrics.snapshot()["stopped_runs"] == 1)
    assert pool.infer([call(6.0, 3)])[0][0].tolist() == [6.0] * WIDTH  # served meanwhile
    assert len(opened) == 2  # by a new session
    caller.join(60)
    assert outcome[0].message == "model 'looping' did not answer within 100 ms"
    pool.close(wait_seconds=20)


def test_a_hung_model_without_timeout_ms_meets_the_workflow_wide_bound(tmp_path):
    path = looping_model(tmp_path / "hung.onnx", steps=HANG)
    library = ModelLibrary({"hung": {"source": str(path), "task": "raw"}}, {"timeout_ms": 300})
    spec, _ = library.spec("hung")
    assert spec.timeout_ms == 300
    model = library.get("hung")
    with pytest.raises(ModelTimeoutError, match="model 'hung' did not answer within 300 ms"):
        model.pool.infer([[np.ones((3, 8, 8), np.float32)]])
    assert model.metrics()["stopped_runs"] == 1


def test_a_bound_cap_lowers_the_default_and_refuses_a_longer_ask(tmp_path):
    path = looping_model(tmp_path / "hung.onnx", steps=HANG)
    capped = ModelLimits(timeout_ms=250)
    library = ModelLibrary({"hung": {"source": str(path), "task": "raw"}}, limits=capped)
    assert library.spec("hung")[0].timeout_ms == 250  # the 60 s default, lowered
    asking = {"hung": {"source": str(path), "task": "raw", "timeout_ms": 1000}}
    with pytest.raises(ModelError) as raised:
        ModelLibrary(asking, limits=capped).spec("hung")
    assert raised.value.message == (
        "model 'hung' asks for timeout_ms 1000; at most 250 is allowed here"
    )
    assert raised.value.place == "models 'hung' field 'timeout_ms'"


def test_a_hung_model_in_a_workflow_fails_its_step_with_the_timeout(tmp_path):
    path = looping_model(tmp_path / "hung.onnx", steps=HANG)
    workflow = Workflow.compile(f"""
inputs: [{{type: image, name: image}}]
models:
  hung: {{source: {path}, task: raw, preprocessing: {{color: bgr, scale: 1.0}}}}
settings: {{timeout_ms: 250}}           # no timeout_ms on the model: the workflow's bound
steps:
  - {{type: ModelInference, name: m, images: $inputs.image, model: hung}}
outputs:
  - {{type: JsonField, name: y, selector: $steps.m.outputs}}
""")
    with pytest.raises(StepExecutionError) as failed:
        workflow.run(image=np.zeros((8, 8, 3), np.uint8))
    assert failed.value.step == "m"
    assert isinstance(failed.value.cause, ModelTimeoutError)
    assert failed.value.cause.message == "model 'hung' did not answer within 250 ms"
    assert workflow.plan.steps["m"].block.model.metrics()["stopped_runs"] == 1


# --- the process exits promptly after a timeout ------------------------------------------

EXIT_SCRIPT = """
import sys, threading, time
import numpy as np
from pathlib import Path
from visionflow.errors import ModelTimeoutError
from visionflow.models.pool import ModelPool
from visionflow.models.runtime import open_session
from visionflow.models.spec import PerformanceSettings

path = Path(sys.argv[1])
element = [np.ones((3, 8, 8), np.float32), np.array(10**12)]
for delay in (0, 1):  # on the calling thread, then through a worker
    pool = ModelPool("looping", lambda: open_session(path),
                     PerformanceSettings(timeout_ms=200, max_batch_delay_ms=delay))
    try:
        pool.infer([element])
    except ModelTimeoutError as error:
        print(error.code)
# and a call still running when the interpreter ends (bounded only by the default, 60 s)
busy = ModelPool("looping", lambda: open_session(path), PerformanceSettings(max_batch_delay_ms=1))
threading.Thread(target=busy.infer, args=([element],), daemon=True).start()
while busy.metrics.snapshot()["batches"] == 0:  # until its run has started
    time.sleep(0.01)
print("exiting")
"""


def test_the_process_exits_cleanly_and_promptly_after_timeouts(looping):
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), str(looping)],
        capture_output=True,
        text=True,
        timeout=30,  # before: 33 s, then "terminate called without an active exception"
    )
    assert "terminate called" not in done.stderr
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["model_timeout", "model_timeout", "exiting"]


# --- over HTTP: a timed-out model is a 504, and the server stops its work ----------------


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_server_answers_a_hung_model_with_504_and_stops_its_run(tmp_path):
    import httpx

    from test_server import png_base64, serving

    path = looping_model(tmp_path / "hung.onnx", steps=HANG)
    document = {
        "inputs": [{"type": "image", "name": "image"}],
        "models": {"hung": {"source": str(path), "task": "raw", "timeout_ms": 300,
                            "preprocessing": {"color": "bgr", "scale": 1.0}}},
        "steps": [{"type": "ModelInference", "name": "m", "images": "$inputs.image",
                   "model": "hung"}],
        "outputs": [{"type": "JsonField", "name": "y", "selector": "$steps.m.outputs"}],
    }  # fmt: skip
    tiny = png_base64(np.zeros((8, 8, 3), np.uint8))
    with serving(tmp_path / "server", "--allow-custom-code") as server:
        answer = httpx.post(
            f"{server.url}/run", json={"workflow": document, "inputs": {"image": tiny}}, timeout=60
        )
        assert answer.status_code == 504, answer.text
        assert answer.json()["error"]["code"] == "model_timeout"
        before = server_cpu_seconds(server.process.pid)
        time.sleep(1.0)
        assert server_cpu_seconds(server.process.pid) - before < 0.3  # not a core's worth
        assert httpx.get(f"{server.url}/health").status_code == 200
    # ended by the test's SIGTERM (uvicorn raises it again once shut down), not by an abort
    assert server.process.returncode == -signal.SIGTERM
    assert "terminate called" not in server.log.read_text()
