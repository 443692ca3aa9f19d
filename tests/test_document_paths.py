"""Documents never reach the server's files: every way a posted (or registered) document can
name a path or URL — an image input's ``default_value``, a value a model is called on, a
model source, a custom step file, an imported function — is held to the rules of request
images (refused unless the operator allowed that folder, or URLs), with the same pixel
limit, and a refusal reads the same whether or not the file exists.
A real ``python -m visionflow.server`` on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import pytest

from test_deepomatic_custom import workflow_document
from test_input_checks import png_header
from test_server import RunningServer, png_base64, serving

DETECTOR = "mediapipe/face_detection_short_range"


def with_default(default: Any) -> dict[str, Any]:
    """An image input whose default is ``default``; the result is the image's size."""
    return {
        "inputs": [{"type": "image", "name": "image", "default_value": default}],
        "steps": [
            {"type": "PropertyDefinition", "name": "w", "data": "$inputs.image",
             "property": "width"},
        ],
        "outputs": [{"type": "JsonField", "name": "width", "selector": "$steps.w.output"}],
    }  # fmt: skip


@pytest.fixture(scope="module")
def pictures(tmp_path_factory, astronaut) -> Path:
    """A folder of real image files on the server's disk (allowed by one server only)."""
    folder = tmp_path_factory.mktemp("pictures")
    cv2.imwrite(str(folder / "astronaut.png"), astronaut)
    (folder / "huge.png").write_bytes(png_header(20000, 20000))
    (folder / "wide.png").write_bytes(png_header(1000, 400))  # 400,000 pixels: over 300,000
    return folder


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory, astronaut) -> Path:
    """An image file outside every allowed folder."""
    path = tmp_path_factory.mktemp("elsewhere") / "astronaut.png"
    cv2.imwrite(str(path), astronaut)
    return path


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Iterator[httpx.Client]:
    """A server as it starts by default: no files, no URLs, no custom code."""
    folder = tmp_path_factory.mktemp("strict")
    with serving(folder, "--max-image-pixels", "300000") as server, server.http(None) as client:
        yield client


@pytest.fixture(scope="module")
def allowing(tmp_path_factory, pictures) -> Iterator[RunningServer]:
    """A server whose operator allowed the folder ``pictures``."""
    flags = ["--allow-files", str(pictures), "--max-image-pixels", "300000"]
    with serving(tmp_path_factory.mktemp("allowing"), *flags) as server:
        yield server


def run(http: httpx.Client, document: Any, **inputs: Any) -> httpx.Response:
    return http.post("/run", json={"workflow": document, "inputs": inputs})


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text and "outputs" not in answer.json()  # no image back
    return answer.json()["error"]


def same_error(answers: dict[str, httpx.Response], status: int) -> dict[str, Any]:
    """The one error all answers give, each path named in it replaced by ``PATH``."""
    errors = [
        {k: (v.replace(path, "PATH") if isinstance(v, str) else v) for k, v in error.items()}
        for path, error in ((p, error_of(a, status)) for p, a in answers.items())
    ]
    assert all(error == errors[0] for error in errors[1:]), errors
    return errors[0]


FILE_FORMS = {
    "a path": lambda path: path,
    "a file mapping": lambda path: {"type": "file", "value": path},
}


# --- an image input's default_value ---------------------------------------------------------


@pytest.mark.parametrize("form", FILE_FORMS)
def test_a_default_naming_a_server_file_is_refused_whether_or_not_it_exists(strict, pictures, form):
    paths = [str(pictures / "astronaut.png"), str(pictures / "missing.png")]
    answers = {path: run(strict, with_default(FILE_FORMS[form](path))) for path in paths}
    error = same_error(answers, 403)
    assert error == {
        "code": "input_source_not_allowed",
        "place": "inputs 'image'[0]",
        "message": "this server does not read the file 'PATH'",
        "hint": "give the image itself (pixels, bytes or base64), or the operator can allow a "
        "folder with --allow-files DIR",
    }


def test_a_registered_default_naming_a_server_file_is_refused_alike(strict, pictures):
    answers = {}
    for position, name in enumerate(["astronaut.png", "missing.png"]):
        path = str(pictures / name)
        registered = {"name": f"default-{position}", "workflow": with_default(path)}
        assert strict.post("/workflows", json=registered).status_code == 201
        answers[path] = strict.post("/run", json={"name": f"default-{position}", "inputs": {}})
    assert same_error(answers, 403)["message"] == "this server does not read the file 'PATH'"


def test_a_default_url_is_refused_unless_urls_are_allowed(strict):
    document = with_default({"type": "url", "value": "http://127.0.0.1:9/a.png"})
    error = error_of(run(strict, document), 403)
    assert (error["code"], error["message"]) == (
        "input_source_not_allowed",
        "this server does not download images from URLs",
    )


def test_a_request_image_replaces_the_default_as_before(strict, pictures, astronaut):
    answer = run(
        strict, with_default(str(pictures / "missing.png")), image=png_base64(astronaut[:, :300])
    )
    assert answer.json()["outputs"] == [{"width": 300}]


def test_a_default_in_an_allowed_folder_is_read_and_pixel_limited(allowing, pictures, elsewhere):
    with allowing.http(api_key=None) as http:
        inside = run(http, with_default(str(pictures / "astronaut.png")))
        assert inside.json()["outputs"] == [{"width": 512}]
        climbing = str(pictures / ".." / elsewhere.parent.name / elsewhere.name)
        for path in (str(elsewhere), climbing):  # outside, also by '..'
            error = error_of(run(http, with_default(path)), 403)
            assert error["message"] == f"this server does not read the file '{path}'"
        wide = error_of(run(http, with_default(str(pictures / "wide.png"))), 413)
        assert (wide["code"], wide["message"]) == (
            "image_too_large",
            "the image is 1000x400 (400,000 pixels); this server takes at most 300,000 "
            "pixels per image",
        )
        huge = error_of(
            run(http, with_default({"type": "file", "value": str(pictures / "huge.png")})), 413
        )
        assert huge["message"] == (
            "the image is 20000x20000 (400,000,000 pixels); this server takes at most 300,000 "
            "pixels per image"
        )
    assert allowing.rss_kib() < 1_000_000  # never decoded: 1.2 GB of pixels


def test_a_symlink_out_of_an_allowed_folder_is_refused(allowing, pictures, elsewhere):
    link = pictures / "link.png"
    link.symlink_to(elsewhere)
    with allowing.http(api_key=None) as http:
        error = error_of(run(http, with_default(str(link))), 403)
    assert error["message"] == f"this server does not read the file '{link}'"


def test_a_symlink_loop_is_refused_like_any_other_path(strict, allowing, pictures, tmp_path):
    """Resolving a loop raises (RuntimeError before Python 3.13): never a 500 that would
    tell the loop exists, inside an allowed folder or outside every one."""
    loops = []
    for folder in (pictures, tmp_path):
        (folder / "loop-a").symlink_to(folder / "loop-b")
        (folder / "loop-b").symlink_to(folder / "loop-a")
        loops.append(str(folder / "loop-a"))
    with allowing.http(api_key=None) as http:
        for client in (strict, http):
            answers = {path: run(client, with_default(path)) for path in (*loops, "/no/such.png")}
            error = same_error(answers, 403)
            assert error["message"] == "this server does not read the file 'PATH'"


# --- values a model is called on -------------------------------------------------------------


def test_a_model_is_not_called_on_a_server_file_named_by_a_value(strict, pictures):
    """A functional model call loads what it is given: a text is a path, held to the rules."""
    document = (
        f"name: paths\nversion: 1\ninput: batch\nmodels:\n  faces: {DETECTOR}\n"
        "workflow:\n  out: [faces, in]\n"
    )
    paths = [str(pictures / "astronaut.png"), str(pictures / "missing.png")]
    answers = {path: run(strict, document, **{"in": path}) for path in paths}
    error = same_error(answers, 422)
    assert error["code"] == "step_execution_error"
    assert (
        "InputSourceNotAllowedError: model 'faces' input: this server does not read the file "
        "'PATH'" in error["message"]
    )


# --- model sources, custom step files, imported functions -----------------------------------


def test_a_model_file_is_refused_whether_or_not_it_exists(strict, pictures, tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a model")
    answers = {}
    for path in (str(model), str(tmp_path / "missing.onnx")):
        document = {
            "inputs": [{"type": "image", "name": "image"}],
            "models": {"faces": {"source": path, "task": "object_detection"}},
            "steps": [{"type": "ObjectDetectionModel", "name": "detect",
                       "images": "$inputs.image", "model": "faces"}],
            "outputs": [{"type": "JsonField", "name": "faces",
                         "selector": "$steps.detect.predictions"}],
        }  # fmt: skip
        answers[path] = strict.post("/validate", json={"workflow": document})
    error = same_error(answers, 403)
    assert error["code"] == "custom_code_not_allowed"
    assert "names the file 'PATH'" in error["message"]


def test_a_custom_step_file_is_never_looked_into(strict, tmp_path):
    marker = tmp_path / "imported"
    steps = tmp_path / "steps.py"
    steps.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n")
    answers = {
        path: strict.post("/validate", json={"workflow": workflow_document(path)})
        for path in (str(steps), str(tmp_path / "missing.py"))
    }
    error = same_error(answers, 403)
    assert error["code"] == "custom_code_not_allowed"
    assert not marker.exists()


def test_a_custom_step_file_in_a_symlink_loop_is_refused_alike(strict, tmp_path):
    (tmp_path / "loop-a.py").symlink_to(tmp_path / "loop-b.py")
    (tmp_path / "loop-b.py").symlink_to(tmp_path / "loop-a.py")
    answers = {
        path: strict.post("/validate", json={"workflow": workflow_document(path)})
        for path in (str(tmp_path / "loop-a.py"), str(tmp_path / "missing.py"))
    }
    assert same_error(answers, 403)["code"] == "custom_code_not_allowed"


def test_an_imported_function_is_refused_whether_or_not_its_module_exists(strict):
    answers = {}
    for path in ("json:dumps", "no_such_module:dumps"):
        document = (
            f"name: imports\nversion: 1\nfunctions:\n  f: {path}\nworkflow:\n  out: [f, in]\n"
        )
        answers[path] = strict.post("/validate", json={"workflow": document})
    error = same_error(answers, 403)
    assert error["code"] == "custom_code_not_allowed"
    assert error["message"] == (
        "'PATH' is Python code imported from the document, and custom code is not allowed here"
    )
