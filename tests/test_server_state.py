"""The server's state: one object per app, and inline documents compiled once.

The requests themselves are covered by test_server.py against a real server; this is the
state they share, built as ``create_app`` builds it.
"""

from __future__ import annotations

import json

import pytest

from visionflow.errors import WorkflowError
from visionflow.server import ServerSettings, create_app
from visionflow.server.state import ServerState, document_key
from visionflow.workflow import clear_cache

DOCUMENT = {
    "inputs": [{"type": "parameter", "name": "x"}],
    "steps": [],
    "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.x"}],
}


@pytest.fixture
def state(tmp_path) -> ServerState:
    return ServerState.create(ServerSettings(workflows_dir=tmp_path, max_batch_size=8))


def test_the_app_keeps_one_state_built_from_its_settings(tmp_path):
    app = create_app(ServerSettings(workflows_dir=tmp_path, max_model_workers=2))
    state = app.state.visionflow
    assert isinstance(state, ServerState)
    assert state.settings.max_model_workers == 2
    assert state.model_limits.max_workers == 2
    assert state.store.root == tmp_path
    assert state.runs.total_tokens == 32


def test_an_inline_document_sent_again_is_not_compiled_again(state):
    first = state.compile(DOCUMENT, None)
    clear_cache()  # Workflow.compile's own cache: what comes back now is the server's
    assert state.compile(json.loads(json.dumps(DOCUMENT)), None) is first
    assert state.compile(DOCUMENT, "native") is not first  # another dialect: another key
    assert len(state.documents) == 2
    assert first.run(x=3) == [{"x": 3}]


def test_a_wrong_document_is_checked_every_time(state):
    wrong = {**DOCUMENT, "outputs": [{"type": "JsonField", "name": "x", "selector": "$inputs.y"}]}
    for _ in range(2):
        with pytest.raises(WorkflowError) as raised:
            state.compile(wrong, None)
        assert raised.value.code == "invalid_selector"
    assert len(state.documents) == 0


def test_the_document_key_tells_values_and_forms_apart():
    assert document_key({"a": 1}, None) == document_key({"a": 1}, None)
    assert document_key({"a": 1}, None) != document_key({"a": 1.0}, None)
    assert document_key({"a": 1}, None) != document_key({"a": True}, None)
    assert document_key('{"a": 1}', None) != document_key({"a": 1}, None)  # text vs object
    assert document_key({"\ud800": []}, None) is not None  # a lone surrogate is hashed too


def test_a_document_that_cannot_be_hashed_is_compiled_each_time_without_a_key():
    nested: list = []
    for _ in range(100_000):
        nested = [nested]
    assert document_key({"a": nested}, None) is None


def test_registered_workflows_compile_through_the_store_not_the_inline_cache(state):
    state.store.register("echo", DOCUMENT, None)
    stored, workflow = state.store.workflow("echo")
    assert (stored.name, stored.version) == ("echo", 1)
    assert workflow.run(x="a") == [{"x": "a"}]
    assert len(state.documents) == 0
