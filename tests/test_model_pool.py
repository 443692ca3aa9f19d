"""The model pool: dynamic batching, worker scaling, retries, timeouts, overload, metrics."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from onnx_models import identity_chain
from test_server_limits import faces
from visionflow.errors import (
    ModelBatchExceedsQueueError,
    ModelCallError,
    ModelError,
    ModelOverloadedError,
    ModelTimeoutError,
)
from visionflow.models.pool import ModelPool
from visionflow.models.runtime import LiteRTSession, OnnxSession, open_session
from visionflow.models.spec import PerformanceSettings


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    return identity_chain(tmp_path_factory.mktemp("m") / "fast.onnx", width=16, depth=1)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    # ~6 ms per element on the 2-core machine: long enough to observe queues and timeouts.
    return identity_chain(tmp_path_factory.mktemp("m") / "slow.onnx", width=1024, depth=100)


def pool_for(path, **settings) -> ModelPool:
    return ModelPool("test-model", lambda: open_session(path), PerformanceSettings(**settings))


def element(value: float, width: int) -> list[np.ndarray]:
    return [np.full(width, value, dtype=np.float32)]


def test_each_element_gets_its_own_answer(fast_model):
    pool = pool_for(fast_model, batch_size=4)
    outputs = pool.infer([element(v, 16) for v in (1.0, 2.0, 3.0)])
    assert [float(out[0][0]) for out in outputs] == [1.0, 2.0, 3.0]
    pool.close()


def test_concurrent_single_calls_are_merged_into_batches(fast_model):
    pool = pool_for(fast_model, batch_size=8, max_batch_delay_ms=100)
    barrier = threading.Barrier(8)

    def call(value: float) -> float:
        barrier.wait()
        return float(pool.infer([element(value, 16)])[0][0][0])

    with ThreadPoolExecutor(8) as threads:
        answers = list(threads.map(call, range(8)))
    assert answers == [float(v) for v in range(8)]
    metrics = pool.metrics.snapshot()
    assert metrics["elements"] == 8
    assert metrics["mean_batch_size"] > 1  # without batching every batch would hold one
    pool.close()


def test_without_batching_every_call_runs_alone(fast_model):
    pool = pool_for(fast_model, batch_size=1)
    with ThreadPoolExecutor(4) as threads:
        list(threads.map(lambda v: pool.infer([element(v, 16)]), range(8)))
    assert pool.metrics.snapshot()["batch_sizes"] == {1: 8}
    pool.close()


def test_partial_batch_waits_at_most_the_delay(fast_model):
    pool = pool_for(fast_model, batch_size=64, max_batch_delay_ms=50)
    started = time.perf_counter()
    pool.infer([element(1.0, 16)])
    waited = time.perf_counter() - started
    assert 0.045 <= waited < 0.5
    pool.close()


def test_call_exceeding_timeout_fails_with_a_timeout_error(slow_model):
    pool = pool_for(slow_model, timeout_ms=1)
    with pytest.raises(ModelTimeoutError, match="model 'test-model' did not answer within 1 ms"):
        pool.infer([element(1.0, 1024) for _ in range(4)])
    assert pool.metrics.snapshot()["timeouts"] == 1
    pool.close()


def test_call_larger_than_the_queue_can_never_fit_and_says_so(fast_model):
    pool = pool_for(fast_model, queue_size=2)
    with pytest.raises(ModelBatchExceedsQueueError) as refused:
        pool.infer([element(1.0, 16) for _ in range(3)])
    assert refused.value.code == "batch_exceeds_queue"
    assert refused.value.message == (
        "a batch of 3 inputs needs 3 queue slots; model 'test-model' takes at most 2 at once "
        "(its queue_size)"
    )
    assert refused.value.hint == (
        "split the batch into parts of at most 2, or raise queue_size for this model"
    )
    assert not isinstance(refused.value, ModelOverloadedError)  # waiting cannot help
    assert pool.metrics.snapshot()["overloads"] == 0
    assert float(pool.infer([element(1.0, 16)] * 2)[1][0][0]) == 1.0  # a batch that fits runs
    pool.close()


def test_full_queue_refuses_new_calls_at_once(slow_model):
    # Two calls of 8 and 4 elements cannot both wait in a queue of 8 (the model takes one
    # element at a time, ~6 ms each): whichever comes second is refused, without waiting.
    # (a batching delay makes every call go through the queue, none runs on its caller)
    pool = pool_for(slow_model, batch_size=1, queue_size=8, max_batch_delay_ms=1)
    outcomes: dict[int, str] = {}

    def call(count: int) -> None:
        try:
            pool.infer([element(1.0, 1024) for _ in range(count)])
            outcomes[count] = "ok"
        except ModelOverloadedError:
            outcomes[count] = "overloaded"

    first = threading.Thread(target=call, args=(8,))
    first.start()
    time.sleep(0.002)
    call(4)
    first.join()
    assert sorted(outcomes.values()) == ["ok", "overloaded"]
    assert pool.metrics.snapshot()["overloads"] == 1
    pool.close()


class FailingFirst(OnnxSession):
    """A real session that fails its first ``failures`` calls (a transient fault)."""

    def __init__(self, path, failures: int):
        super().__init__(path, 1)
        self.failures = failures

    def run(self, feeds, run=None):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("transient fault")
        return super().run(feeds, run)


def test_failed_call_is_retried(fast_model):
    settings = PerformanceSettings(retry_attempts=1)
    pool = ModelPool("flaky", lambda: FailingFirst(fast_model, 1), settings)
    assert float(pool.infer([element(5.0, 16)])[0][0][0]) == 5.0
    assert pool.metrics.snapshot()["failures"] == 1
    pool.close()


def test_failure_after_retries_names_the_model(fast_model):
    settings = PerformanceSettings(retry_attempts=2)
    pool = ModelPool("flaky", lambda: FailingFirst(fast_model, 5), settings)
    with pytest.raises(ModelCallError, match="model 'flaky' failed after 3 attempt"):
        pool.infer([element(5.0, 16)])
    pool.close()


def test_wrong_input_is_a_model_call_error_not_a_hang(fast_model):
    pool = pool_for(fast_model, timeout_ms=5000)
    with pytest.raises(ModelCallError, match="model 'test-model' failed"):
        pool.infer([element(1.0, 7)])  # the model takes 16 values
    pool.close()


def test_workers_are_added_when_the_queue_grows(slow_model):
    pool = pool_for(slow_model, batch_size=1, max_workers=3)
    with ThreadPoolExecutor(12) as threads:
        list(threads.map(lambda v: pool.infer([element(v, 1024)]), range(12)))
    assert pool.workers > 1
    assert pool.workers <= 3
    pool.close()


def test_min_workers_above_max_is_an_error(fast_model):
    with pytest.raises(ModelError, match="min_workers"):
        pool_for(fast_model, min_workers=3, max_workers=2)


def test_a_call_on_an_idle_model_runs_on_the_calling_thread(fast_model):
    pool = pool_for(fast_model, batch_size=4)
    seen = []
    session = pool.first_session
    original = session.run

    def recording_run(feeds, run):
        seen.append(threading.current_thread().name)
        return original(feeds, run)

    session.run = recording_run
    pool.infer([element(1.0, 16)])
    assert seen == [threading.current_thread().name]
    pool.close()


def test_with_a_timeout_an_onnx_call_still_runs_on_the_calling_thread(fast_model):
    # onnxruntime can stop a run from another thread: the deadline does not need a worker
    pool = pool_for(fast_model, timeout_ms=5000)
    seen = []
    session = pool.first_session
    original = session.run

    def recording_run(feeds, run):
        seen.append(threading.current_thread().name)
        return original(feeds, run)

    session.run = recording_run
    pool.infer([element(1.0, 16)])
    assert seen == [threading.current_thread().name]
    pool.close()


class Unstoppable(OnnxSession):
    """A real ONNX session that, like LiteRT (``LiteRTSession``), cannot be stopped once it
    runs."""

    stoppable = False

    def __init__(self, path):
        super().__init__(path, 1)

    def run(self, feeds, run=None):
        return super().run(feeds)  # the handle is never given to onnxruntime


def threads_running(session) -> list[str]:
    """The names of the threads the session's runs will be made on, filled as they run."""
    seen: list[str] = []
    original = session.run

    def recording_run(feeds, run):
        seen.append(threading.current_thread().name)
        return original(feeds, run)

    session.run = recording_run
    return seen


def test_with_a_timeout_a_session_that_cannot_be_stopped_serves_calls_from_a_worker(
    fast_model,
):
    # a caller stuck in such a run could not be given its timeout: a worker runs it instead
    settings = PerformanceSettings(timeout_ms=5000)
    pool = ModelPool("unstoppable", lambda: Unstoppable(fast_model), settings)
    seen = threads_running(pool.first_session)
    assert float(pool.infer([element(2.0, 16)])[0][0][0]) == 2.0
    assert seen == ["visionflow-model-unstoppable"]
    assert (LiteRTSession.stoppable, OnnxSession.stoppable) == (False, True)
    pool.close()


def test_without_a_timeout_a_session_that_cannot_be_stopped_runs_on_the_caller(fast_model):
    # only the default bound: not worth a hand-off on every call (see test_model_timeouts)
    pool = ModelPool("unstoppable", lambda: Unstoppable(fast_model), PerformanceSettings())
    seen = threads_running(pool.first_session)
    assert float(pool.infer([element(3.0, 16)])[0][0][0]) == 3.0
    assert seen == [threading.current_thread().name]
    pool.close()


# --- over HTTP: a batch that can never fit is a 413, a queue full of others' work a 503 --

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from test_server import serving

    with serving(tmp_path_factory.mktemp("pool")) as running:
        yield running


@pytest.fixture(scope="module")
def face(astronaut) -> str:
    from test_server import png_base64

    return png_base64(astronaut)


def test_a_batch_over_the_queue_size_is_a_413_that_says_to_split_it(server, face):
    import httpx

    body = {"workflow": faces(queue_size=2), "inputs": {"image": [face] * 3}}
    answer = httpx.post(f"{server.url}/run", json=body, timeout=60)
    assert answer.status_code == 413, answer.text
    assert "retry-after" not in answer.headers  # waiting can never help
    error = answer.json()["error"]
    assert (error["code"], error["step"]) == ("batch_exceeds_queue", "detect")
    expected = "a batch of 3 inputs needs 3 queue slots; model 'faces' takes at most 2 at once"
    assert expected in error["message"]
    assert error["hint"] == (
        "split the batch into parts of at most 2, or raise queue_size for this model"
    )
    two = httpx.post(f"{server.url}/run", json={**body, "inputs": {"image": [face] * 2}})
    assert two.json()["outputs"] == [{"faces": 1}, {"faces": 1}]


def test_a_queue_full_of_other_calls_is_a_503_to_retry(server, face):
    import httpx

    # a batch of 4 that waits 3 s to fill: a first request's two images hold both slots
    slow = faces(batch_size=4, max_batch_delay_ms=3000, queue_size=2)
    answers: list = []
    first = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{server.url}/run", json={"workflow": slow,
                       "inputs": {"image": [face] * 2}}, timeout=60)
        )
    )  # fmt: skip
    first.start()
    queued = re.compile(r'^visionflow_model_queue_depth\{model="faces[#\d]*"\} 2\.0$', re.M)
    give_up = time.monotonic() + 10
    while not queued.search(httpx.get(f"{server.url}/metrics").text):
        assert time.monotonic() < give_up, "the first request's images never queued"
        time.sleep(0.02)
    answer = httpx.post(f"{server.url}/run", json={"workflow": slow, "inputs": {"image": face}})
    first.join(60)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["error"]["code"] == "model_overloaded"
    assert answers[0].json()["outputs"] == [{"faces": 1}, {"faces": 1}]
