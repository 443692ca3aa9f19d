"""Documents that once crashed the compiler, posted to a real server on 127.0.0.1: each is a
4xx (422, or 403 for custom code) with the compile error's code and place, never a 500, and
a YAML alias bomb does not stall the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from test_document_limits import ALIAS_BOMB, DEEPOMATIC, deepomatic_with, nested
from test_server import RunningServer, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[RunningServer]:
    with serving(tmp_path_factory.mktemp("documents"), "--max-request-mb", "8") as running:
        yield running


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with server.http(api_key=None) as client:
        yield client


DOCUMENTS: dict[str, tuple[Any, str, str]] = {
    # name: (workflow, code, place)
    "input type is a list": (
        {"inputs": [{"type": []}]},
        "invalid_definition",
        "inputs[0] field 'type'",
    ),
    "step field nested 900 deep": (
        {"steps": [{"type": "Crop", "name": "c", "image": nested("$inputs.image", 900)}]},
        "document_too_large",
        "steps[0].image.a(...).a.a.a.a.a.a",
    ),
    "lone surrogate key in YAML text": ('{"\\ud800": []}', "invalid_definition", "\\ud800"),
    "dynamic block manifest is a number": (
        {"dynamic_blocks_definitions": [{"manifest": 5}]},
        "custom_code_not_allowed",
        "dynamic_blocks_definitions[0] '?'",
    ),
    "Deepomatic data_type is a list": (
        deepomatic_with("entries", "data_type", ["Image"]),
        "invalid_definition",
        "entries[0] 'image' field 'data_type'",
    ),
    "Deepomatic step type is a list": (
        deepomatic_with("steps", "type", ["Inference"]),
        "unknown_block_type",
        "steps[0] 'faces' field 'type'",
    ),
    "Deepomatic output_of is a list": (
        deepomatic_with("outcomes", "output_of", ["faces"]),
        "invalid_selector",
        "outcomes[0] 'found' field 'output_of'",
    ),
    "Deepomatic models is a list": (
        {**DEEPOMATIC, "models": ["a"]},
        "invalid_definition",
        "models",
    ),
    "YAML alias bomb": (ALIAS_BOMB, "document_too_large", "definition"),
    "3 MB of YAML": (
        "version: '1.0'\ndescription: " + "x" * 3_000_000 + "\n",
        "document_too_large",
        "definition",
    ),
}


@pytest.mark.parametrize("name", list(DOCUMENTS))
@pytest.mark.parametrize("route", ["/validate", "/run"])
def test_a_document_that_crashed_the_compiler_is_a_4xx(http, route, name):
    workflow, code, place = DOCUMENTS[name]
    body = {"workflow": workflow, **({"inputs": {}} if route == "/run" else {})}
    answer = http.post(route, json=body)
    assert answer.status_code == (403 if code == "custom_code_not_allowed" else 422), answer.text
    error = answer.json()["error"]
    assert (error["code"], error["place"]) == (code, place)


def test_a_lone_surrogate_key_in_a_json_body_is_a_422(http):
    body = b'{"workflow": {"\\ud800": []}}'
    answer = http.post("/validate", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "invalid_definition"


def test_the_server_answers_after_alias_bombs(http, server):
    for _ in range(5):
        assert http.post("/validate", json={"workflow": ALIAS_BOMB}).status_code == 422
    assert http.get("/health").status_code == 200
    assert "Traceback" not in server.log.read_text()


def test_a_registered_document_is_held_to_the_same_limits(http, server):
    server.workflows.mkdir(parents=True, exist_ok=True)
    (server.workflows / "bomb").mkdir(exist_ok=True)
    (server.workflows / "bomb" / "1.yaml").write_text(ALIAS_BOMB)
    answer = http.post("/run", json={"name": "bomb", "inputs": {}})
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["code"] == "document_too_large"
    assert json.dumps(answer.json()).count("lol") == 0


def test_an_integer_of_2000_digits_in_a_body_is_a_422_with_its_place(http):
    # 2000 digits pass json's own limit (4300) and once made the compiler's hashing fail
    body = '{"workflow": {"steps": [], "x": ' + "9" * 2000 + "}}"
    answer = http.post("/validate", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["place"]) == ("document_too_large", "x")


PASS_THROUGH = {
    "inputs": [{"type": "parameter", "name": "p", "default_value": 1.0}],
    "outputs": [{"type": "JsonField", "name": "o", "selector": "$inputs.p"}],
}


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_result_json_has_no_number_for_is_null_not_a_500(http, server, value):
    # Python's json reads NaN and Infinity in a body; the answer could not be written (500)
    body = '{"workflow": ' + json.dumps(PASS_THROUGH) + ', "inputs": {"p": ' + value + "}}"
    answer = http.post("/run", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"] == [{"o": None}]
    assert "Traceback" not in server.log.read_text()


def test_an_unknown_dialect_is_named_as_the_place(http):
    answer = http.post("/validate", json={"workflow": {}, "dialect": "__init__"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["place"] == "dialect"
