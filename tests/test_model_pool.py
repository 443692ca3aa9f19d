"""The model pool: dynamic batching, worker scaling, retries, timeouts, overload, metrics."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from onnx_models import identity_chain
from visionflow.errors import ModelCallError, ModelError, ModelOverloadedError, ModelTimeoutError
from visionflow.models.pool import ModelPool
from visionflow.models.runtime import OnnxSession, open_session
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


def test_call_larger_than_the_queue_is_refused_at_once(fast_model):
    pool = pool_for(fast_model, queue_size=2)
    with pytest.raises(ModelOverloadedError, match="model 'test-model' is overloaded"):
        pool.infer([element(1.0, 16) for _ in range(3)])
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

    def run(self, feeds):
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("transient fault")
        return super().run(feeds)


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

    def recording_run(feeds):
        seen.append(threading.current_thread().name)
        return original(feeds)

    session.run = recording_run
    pool.infer([element(1.0, 16)])
    assert seen == [threading.current_thread().name]
    pool.close()


def test_with_a_timeout_calls_go_through_a_worker_that_can_be_given_up(fast_model):
    pool = pool_for(fast_model, timeout_ms=5000)
    seen = []
    session = pool.first_session
    original = session.run
    session.run = lambda feeds: seen.append(threading.current_thread().name) or original(feeds)
    pool.infer([element(1.0, 16)])
    assert seen and seen[0].startswith("visionflow-model-")
    pool.close()
