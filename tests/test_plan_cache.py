"""The plan cache under threads: compiling and evicting from many threads at once is safe."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import visionflow.workflow
from visionflow import Workflow
from visionflow.compiler import PlanCache

THREADS = 8
ROUNDS = 40


def times(factor: int) -> dict:
    """A workflow that returns x * factor: distinct factors are distinct documents."""
    return {
        "inputs": [{"type": "parameter", "name": "x"}],
        "steps": [
            {
                "type": "Expression",
                "name": "times",
                "expression": f"x * {factor}",
                "data": {"x": "$inputs.x"},
            }
        ],
        "outputs": [{"type": "JsonField", "name": "y", "selector": "$steps.times.output"}],
    }


@pytest.fixture
def small_cache(monkeypatch) -> PlanCache:
    """The process's cache replaced by a real one of three entries, so evictions never stop."""
    cache: PlanCache = PlanCache(size=3)
    monkeypatch.setattr(visionflow.workflow, "_cache", cache)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change often: races show up if there are any
    yield cache
    sys.setswitchinterval(switch)


def compile_and_run(cache: PlanCache, thread: int, factors: int) -> list[int]:
    sizes = []
    for round_ in range(ROUNDS):
        factor = (thread + round_) % factors
        workflow = Workflow.compile(times(factor))
        assert workflow.run(x=round_) == [{"y": round_ * factor}]
        sizes.append(len(cache))
    return sizes


def storm(cache: PlanCache, factors: int) -> list[int]:
    with ThreadPoolExecutor(THREADS) as pool:
        runs = [pool.submit(compile_and_run, cache, thread, factors) for thread in range(THREADS)]
        return [size for run in runs for size in run.result()]  # re-raises any thread's error


def test_many_threads_compile_and_evict_without_error(small_cache):
    sizes = storm(small_cache, factors=7)  # seven documents for three places
    assert len(sizes) == THREADS * ROUNDS
    assert max(sizes) == 3


def test_equal_documents_share_a_plan_while_cached(small_cache):
    storm(small_cache, factors=3)  # as many documents as places: nothing is evicted after
    assert len(small_cache) == 3
    for factor in range(3):
        first = Workflow.compile(times(factor))
        assert Workflow.compile(times(factor)) is first
        assert first.run(x=5) == [{"y": 5 * factor}]


def test_an_evicted_plan_is_compiled_again():
    cache: PlanCache[str] = PlanCache(size=2)
    cache.put("a", "plan a")
    cache.put("b", "plan b")
    assert cache.get("a") == "plan a"  # a is now the most recently used
    cache.put("c", "plan c")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("plan a", None, "plan c")
    assert len(cache) == 2


def test_puts_and_gets_from_many_threads():
    cache: PlanCache[int] = PlanCache(size=1)

    def put_and_get(value: int) -> list[bool]:
        found = []
        for _ in range(200):
            cache.put(value, value)
            found.append(cache.get(value) in (value, None))  # its own, or evicted by another
        return found

    with ThreadPoolExecutor(6) as pool:
        seen = [ok for found in pool.map(put_and_get, range(6)) for ok in found]
    assert all(seen) and len(seen) == 1200
    assert len(cache) == 1
