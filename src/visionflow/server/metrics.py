"""Prometheus metrics: HTTP requests and latency, runs, and each loaded model's pool.

The model figures are read from ``model_metrics()`` at scrape time, so they cover every
run in the process (the server's and any other), and nothing is counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from visionflow.models.library import loaded_models, model_metrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServerMetrics:
    """One registry per app, so several apps in one process (tests) keep apart."""

    def __init__(self) -> None:
        disable_created_metrics()  # "_created" twins of every series only add noise here
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "visionflow_http_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "visionflow_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by method and route.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "visionflow_http_requests_in_flight",
            "Requests being answered now.",
            registry=self.registry,
        )
        self.runs = Counter(
            "visionflow_runs_total",
            "Workflow runs, by workflow (registered name or 'inline') and outcome.",
            ["workflow", "outcome"],
            registry=self.registry,
        )
        self.registry.register(ModelCollector())

    def observe(self, method: str, route: str, status: int, started: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - started)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ModelCollector(Collector):
    """Per-model queue time, batch sizes, latency, failures and workers, read at scrape."""

    def collect(self) -> Iterator[Metric]:
        figures = model_metrics()
        counters = {
            name: CounterMetricFamily(f"visionflow_model_{name}", text, labels=["model"])
            for name, text in [
                ("batches", "Batches the model's sessions ran."),
                ("elements", "Elements (images, crops) the model processed."),
                ("failures", "Model calls that failed after their retries."),
                ("timeouts", "Model calls that timed out."),
                ("overloads", "Model calls refused because the queue was full."),
            ]
        }
        mean_batch = GaugeMetricFamily(
            "visionflow_model_mean_batch_size", "Mean elements per batch.", labels=["model"]
        )
        sizes = CounterMetricFamily(
            "visionflow_model_batch_size", "Batches run, by size.", labels=["model", "size"]
        )
        timings = {
            key: GaugeMetricFamily(
                f"visionflow_model_{key}_seconds",
                f"Recent {text}, by quantile.",
                labels=["model", "quantile"],
            )
            for key, text in [("queue", "time waiting in the queue"), ("latency", "call latency")]
        }
        for model, snapshot in figures.items():
            for name, family in counters.items():
                family.add_metric([model], snapshot[name])
            mean_batch.add_metric([model], snapshot["mean_batch_size"])
            for size, count in snapshot["batch_sizes"].items():
                sizes.add_metric([model, str(size)], count)
            for key, family in timings.items():
                _quantiles(family, model, snapshot[f"{key}_ms"])
        yield from counters.values()
        yield from (mean_batch, sizes, *timings.values(), *_pool_gauges())


def _quantiles(family: GaugeMetricFamily, model: str, milliseconds: dict[str, Any]) -> None:
    for label, key in (("0.5", "p50"), ("0.95", "p95"), ("1", "max")):
        family.add_metric([model, label], milliseconds[key] / 1000)


def _pool_gauges() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    """Worker threads and queue depth of each loaded model's pool, right now."""
    workers = GaugeMetricFamily(
        "visionflow_model_workers", "Worker threads serving the model now.", labels=["model"]
    )
    queued = GaugeMetricFamily(
        "visionflow_model_queue_depth",
        "Elements waiting for a worker of the model now.",
        labels=["model"],
    )
    seen: dict[str, int] = {}
    for model in loaded_models():
        seen[model.spec.id] = seen.get(model.spec.id, 0) + 1
        count = seen[model.spec.id]
        # the same naming as model_metrics(): id, id#2, ... for one id with other settings
        name = model.spec.id if count == 1 else f"{model.spec.id}#{count}"
        workers.add_metric([name], model.pool.workers)
        queued.add_metric([name], model.pool.queue_depth)
    return workers, queued
