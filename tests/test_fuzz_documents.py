"""Mutated documents of every dialect: each compiles or raises a ``WorkflowError``.

A fixed seed, so a failure here is the same document every time: ``python
tests/fuzzing.py --count N --seed S`` runs more of them (``make fuzz``: 10,000).
"""

from __future__ import annotations

import sys

from fuzzing import compile_one, fuzzed_documents, run, seed_documents

DOCUMENTS = 3000


def test_seeds_cover_the_three_dialects():
    origins = [origin for origin, _ in seed_documents()]
    assert "examples/first_workflow.yaml" in origins  # native
    assert "examples/deepomatic_faces.yaml" in origins
    assert "examples/functional_pose.yaml" in origins
    assert len(origins) >= 50


def test_the_same_seed_gives_the_same_documents():
    # deep_nesting makes values 3,000 levels deep: more than repr's default recursion limit
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    try:
        first = [repr(document) for document in fuzzed_documents(seed=7, count=30)]
        assert first == [repr(document) for document in fuzzed_documents(seed=7, count=30)]
    finally:
        sys.setrecursionlimit(limit)


def test_a_refused_document_gives_its_error_code():
    assert compile_one({"inputs": [{"type": []}]}, allow_custom_code=False) == (
        "invalid_definition"
    )


def test_thousands_of_mutated_documents_compile_or_raise_a_workflow_error():
    report = run(seed=2026, count=DOCUMENTS)
    assert report.crashes == [], report.summary()
    assert report.compiled + sum(report.refused.values()) == 2 * DOCUMENTS
    assert report.compiled > 0 and len(report.refused) > 5  # the mutations reach many checks
