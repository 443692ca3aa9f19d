"""DJL Serving's workflow documents, as its documentation writes them, run here.

Each document below is an example of DJL's "Deep Learning Workflows" page, written as it
is there; what a test adds is only what the page leaves to the reader (the ``functions:``
and ``models:`` a workflow section uses), with models that exist here: the page's Java
class ``com.package.Aggregator`` is a Python class of that import path, and a URL of
``example.com`` is a server the test runs on 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import tarfile
import textwrap
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from skimage import data

from visionflow import Workflow
from visionflow.errors import (
    CustomCodeNotAllowedError,
    DefinitionError,
    ModelDownloadsOffError,
    ModelError,
    StepExecutionError,
)
from visionflow.models.library import map_models
from visionflow.models.urls import MAX_MEMBERS, allow_model_downloads, resolve_model_url
from visionflow.models.zoo import find_entry, model_file

FUNCTIONS = '''
from visionflow.blocks.core.functions import top_class


def pre_process(image):
    """The astronaut's face: what the emotion models read."""
    return image.crop(160, 50, 290, 200)


def post_process(classification):
    return top_class(classification)


def human_detection(image, executor):
    """People found by the detector, with the image they were found in."""
    return image, executor.model("people").predict(image)


def split_humans(found, executor):
    image, people = found
    return executor.call("personRegions", image, people)


def cascade(image, executor):
    """Faces, then the emotion of each face: two models driven by one function."""
    faces = executor.model("faces").predict(image)
    crops = executor.call("crops", image, faces)
    return [emotion["top"] for emotion in executor.model("emotion").predict(crops)]


def first_model_that_finds(image, executor):
    """A retry: the palm detector first, the face detector when it finds nothing."""
    for name in ("palms", "faces"):
        found = executor.model(name).predict(image)
        if len(found):
            return name, len(found)
    return None


def count_three_times(image, executor):
    """A loop over one model: each call a fresh prediction of the same image."""
    return [len(executor.model("faces").predict(image)) for _ in range(3)]


def emotions_of_crops(image, executor):
    return executor.call("cascade", image)


def ask_unknown(image, executor):
    return executor.model("nobody").predict(image)


def executor_first(executor, *images):
    """DJL's order: run(executor, args), the executor before the arguments."""
    return [len(executor.model("faces").predict(image)) for image in images]


def calls_executor_first(image, executor):
    return executor.call("first", image, image)
'''

AGGREGATOR = '''
class Aggregator:
    """DJL's example aggregate function: a class with a no-argument constructor, given the
    workflow's executor with the arguments."""

    def __call__(self, *results, executor):
        return executor.call("consensus", list(results))


class RunAggregator:
    """The Java interface's shape, ported as it is: a run method, no __call__."""

    def run(self, executor, args):
        return executor.call("consensus", list(args))


class Threshold:
    def __init__(self, threshold):
        self.threshold = threshold

    def __call__(self, classification):
        return classification
'''


@pytest.fixture(scope="module")
def functions(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("djl_functions")
    (folder / "djlflows.py").write_text(textwrap.dedent(FUNCTIONS))
    (folder / "com").mkdir()
    (folder / "com" / "__init__.py").write_text("")
    (folder / "com" / "package.py").write_text(textwrap.dedent(AGGREGATOR))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in ("djlflows", "com", "com.package"):
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea()[:, :, ::-1])


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("VISIONFLOW_MODEL_CACHE", str(folder))
    return folder


def compile_text(text: str, **options) -> Workflow:
    return Workflow.compile(textwrap.dedent(text), cache=False, **options)


# --- the page's examples ------------------------------------------------------------------

SIMPLE_WORKFLOW = """
workflow:
  # First applies preProcessing to the input
  preProcessed: ["preProcess", "in"]

  # Then applies "model" to the result of preProcessing stored in the value "preProcessed"
  inferenced: ["model", "preProcessed"]

  # The output saved in the keyword "out" is done by applying postProcessing to the inferenced
  # result
  out: ["postProcess", "inferenced"]
"""

DECLARED = """
models:
  model: fer/emotion
functions:
  preProcess: djlflows:pre_process
  postProcess: djlflows:post_process
"""


def test_the_global_configuration_with_its_performance_properties(functions, astronaut):
    document = """
    # required
    name: "MyWorkflow"
    version: "1.2.0"

    # Default model properties based on https://github.com/pytorch/serve/blob/master/docs/workflows.md#workflow-model-properties
    # optional
    minWorkers: 1
    maxWorkers: 4
    batchSize: 3
    maxBatchDelay: 5000
    retryAttempts: 3
    timeout: 5000
    """
    workflow = compile_text(textwrap.dedent(document) + DECLARED + SIMPLE_WORKFLOW)
    spec = workflow.plan.steps["inferenced"].block.model.spec
    assert (spec.min_workers, spec.max_workers, spec.batch_size) == (1, 4, 3)
    assert (spec.max_batch_delay_ms, spec.retry_attempts, spec.timeout_ms) == (5000, 3, 5000)
    # three images fill a batch of three, so nothing waits out the batching delay
    assert workflow.run({"in": [astronaut] * 3}) == [{"out": "happy"}] * 3


@pytest.mark.parametrize("missing", ["name", "version"])
def test_name_and_version_are_required(functions, missing):
    header = {"name": '"MyWorkflow"', "version": '"1.2.0"'}
    del header[missing]
    text = "".join(f"{key}: {value}\n" for key, value in header.items())
    with pytest.raises(DefinitionError) as error:
        compile_text(text + DECLARED + SIMPLE_WORKFLOW)
    assert error.value.message == f"a functional workflow needs '{missing}'"
    assert error.value.place == missing
    assert f"add {missing}:" in error.value.hint


def test_an_empty_name_is_refused():
    with pytest.raises(DefinitionError) as error:
        compile_text('name: ""\nversion: "1.0"\nworkflow:\n  out: [count, in]\n')
    assert (error.value.place, error.value.message) == (
        "name",
        "'name' must be a non-empty text, found ''",
    )


def test_pre_process_model_post_process(functions, astronaut):
    workflow = compile_text('name: "MyWorkflow"\nversion: "1.2.0"\n' + DECLARED + SIMPLE_WORKFLOW)
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]


def test_nested_calls_on_one_line(functions, astronaut):
    document = """
    name: "MyWorkflow"
    version: "1.2.0"
    workflow:
      out: ["postProcess", ["model", ["preProcess", "in"]]]
    """
    workflow = compile_text(textwrap.dedent(document) + DECLARED)
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]


def test_three_models_in_parallel_aggregated_by_a_class_given_the_executor(functions, astronaut):
    document = """
    name: "MyWorkflow"
    version: "1.2.0"
    models:
      model1: fer/emotion
      model2: facex/emotion
      model3: {file: fer/emotion, maxWorkers: 2}
    functions:
      aggregate: "com.package.Aggregator"
      preProcess: djlflows:pre_process
      postProcess: djlflows:post_process
    workflow:
      preProcessed: ["preProcess", "in"]
      m1: ["model1", "preProcessed"]
      m2: ["model2", "preProcessed"]
      m3: ["model3", "preProcessed"]
      out: ["postProcess", ["aggregate", "m1", "m2", "m3"]]
    """
    workflow = compile_text(document)
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]
    assert {"m1", "m2", "m3", "out/1"} <= set(workflow.plan.steps)


@pytest.mark.parametrize(
    ("entry", "place", "message", "hint"),
    [
        ("com.package.RunAggregator", "field 'function'",
         "'com.package.RunAggregator' is a class whose instances cannot be called",
         "give it a __call__ method, called with the arguments (DJL's run(executor, args) "
         "becomes __call__(self, *args, executor))"),
        ("com.package.Threshold", "field 'init'",
         "'com.package.Threshold' cannot be made with init {}: Threshold.__init__() missing 1 "
         "required positional argument: 'threshold'",
         "'init' holds the keyword arguments of the class's constructor"),
    ],
)  # fmt: skip
def test_a_class_that_cannot_be_made_or_called_is_a_compile_error(
    functions, entry, place, message, hint
):
    document = f"""
    name: "MyWorkflow"
    version: "1.2.0"
    models:
      model1: fer/emotion
    functions:
      aggregate: "{entry}"
    workflow:
      out: ["aggregate", ["model1", "in"]]
    """
    with pytest.raises(DefinitionError) as error:
        compile_text(document)
    assert error.value.place.endswith(place)
    assert (error.value.message, error.value.hint) == (message, hint)


def test_human_detection_split_then_map_pose_estimation(functions, astronaut, chelsea):
    document = """
    name: "MyWorkflow"
    version: "1.2.0"
    models:
      people: mediapipe/pose_detection
      poseEstimation: mediapipe/pose_landmarks_full
    functions:
      humanDetection: djlflows:human_detection
      splitHumans: djlflows:split_humans
    workflow:
      humans: ["splitHumans", ["humanDetection", "in"]]
      out: ["map", "poseEstimation", "humans"]
    """
    person, cat = compile_text(document).run({"in": [astronaut, chelsea]})
    (pose,) = person["out"]
    assert pose.data["keypoints_xy"].shape == (1, 33, 2)
    assert cat == {"out": []}


# --- models named by URL ------------------------------------------------------------------


def zoo_description(model_id: str, **changes) -> dict:
    """A zoo model's description with its file beside it: what a model folder holds."""
    entry = find_entry(model_id)
    return {**entry.description, "path": model_file(entry).name, **changes}


def model_folder(folder: Path, model_id: str = "fer/emotion") -> Path:
    folder.mkdir(parents=True)
    shutil.copy(model_file(find_entry(model_id)), folder)
    (folder / "model.yaml").write_text(yaml.safe_dump(zoo_description(model_id)))
    return folder


def emotion_document(url: str) -> str:
    return textwrap.dedent(f"""
    name: "by url"
    version: "1.0"
    models:
      model: "{url}"
    workflow:
      out: [topClass, [model, [crop, in, {{literal: [160, 50, 290, 200]}}]]]
    """)


def zipped(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.write(path, path.relative_to(folder.parent))
    return archive


def test_a_file_url_to_a_model_file_with_its_task_in_the_entry(astronaut):
    path = model_file(find_entry("fer/emotion"))
    description = zoo_description("fer/emotion")
    description.pop("path")
    document = {
        "name": "file",
        "version": "1",
        "models": {"model": {"file": path.as_uri(), **description}},
        "workflow": {
            "out": ["topClass", ["model", ["crop", "in", {"literal": [160, 50, 290, 200]}]]]
        },
    }
    assert Workflow.compile(document, cache=False).run({"in": astronaut}) == [{"out": "happy"}]


def test_a_file_url_to_a_folder_with_a_description(tmp_path, astronaut):
    folder = model_folder(tmp_path / "emotion")
    workflow = compile_text(emotion_document(folder.as_uri()))
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]
    assert workflow.plan.steps["out/1"].block.model.spec.labels[3] == "happy"


@pytest.mark.parametrize("suffix", [".zip", ".mar", ".tar.gz"])
def test_an_archive_is_unpacked_once_into_the_cache_and_loaded(tmp_path, cache, astronaut, suffix):
    folder = model_folder(tmp_path / "emotion")
    archive = tmp_path / f"emotion{suffix}"
    if suffix == ".tar.gz":
        with tarfile.open(archive, "w:gz") as bundle:
            bundle.add(folder, arcname="emotion")
    else:
        zipped(folder, archive)
    workflow = compile_text(emotion_document(archive.as_uri()))
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]
    (unpacked,) = (cache / "unpacked").iterdir()
    source = workflow.plan.steps["out/1"].block.model.spec.source
    assert Path(source).is_relative_to(unpacked)
    marker = unpacked / "emotion" / "model.yaml"
    stamp = marker.stat().st_mtime_ns
    again = resolve_model_url(archive.as_uri(), trusted=True, place="models 'model'")
    assert again.path == Path(source)
    assert marker.stat().st_mtime_ns == stamp and len(list((cache / "unpacked").iterdir())) == 1


def test_an_archive_with_a_member_outside_its_folder_is_refused(tmp_path, cache):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("model.yaml", "path: model.onnx\ntask: classification\n")
        bundle.writestr("../evil.txt", "escaped")
    with pytest.raises(ModelError) as error:
        compile_text(emotion_document(archive.as_uri()))
    assert "holds the member '../evil.txt', which would be written outside" in error.value.message
    assert error.value.place == "steps[1] 'out/1' models 'model'"
    assert not (tmp_path / "evil.txt").exists() and not (cache / "evil.txt").exists()
    assert not (cache / "unpacked").exists() or not any((cache / "unpacked").iterdir())


def test_an_archive_of_too_many_members_is_refused_before_unpacking(tmp_path, cache):
    # empty members weigh nothing, yet each is a file made in the cache (an inode bomb)
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for number in range(MAX_MEMBERS + 1):
            bundle.writestr(f"m/{number}", b"")
    with pytest.raises(ModelError) as error:
        resolve_model_url(archive.as_uri(), trusted=True, place="models 'model'")
    assert error.value.message == (
        f"'{archive.as_uri()}' holds {MAX_MEMBERS + 1:,} members, more than {MAX_MEMBERS:,}"
    )
    assert not (cache / "unpacked").exists() or not any((cache / "unpacked").iterdir())


def test_a_tar_archive_with_an_absolute_member_or_a_link_is_refused(tmp_path, cache):
    for name, member in (("absolute", "/tmp/evil.txt"), ("link", "model.onnx")):
        archive = tmp_path / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz") as bundle:
            info = tarfile.TarInfo(member)
            if name == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            bundle.addfile(info)
        with pytest.raises(ModelError) as error:
            resolve_model_url(archive.as_uri(), trusted=True, place="models 'model'")
        assert f"holds the member '{member}'" in error.value.message


def test_a_torchserve_style_archive_with_other_json_files_finds_its_one_model(tmp_path, cache):
    folder = tmp_path / "served"
    folder.mkdir()
    model = shutil.copy(model_file(find_entry("fer/emotion")), folder)
    (folder / "index_to_name.json").write_text('{"0": "angry"}')
    (folder / "MAR-INF").mkdir()
    (folder / "MAR-INF" / "MANIFEST.json").write_text('{"model": {"path": "x"}}')
    archive = zipped(folder, tmp_path / "served.mar")
    resolved = resolve_model_url(archive.as_uri(), trusted=True, place="models 'model'")
    assert resolved.path.name == Path(model).name and resolved.fields == {}


def test_a_folder_of_two_models_says_the_rule(tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for model_id in ("fer/emotion", "facex/emotion"):
        shutil.copy(model_file(find_entry(model_id)), folder)
    with pytest.raises(ModelError) as error:
        resolve_model_url(folder.as_uri(), trusted=True, place="models 'model'")
    assert "holds 2 model files" in error.value.message
    assert "a model folder or archive holds one model" in error.value.message


def test_a_description_written_by_visionflow_models_json_loads_as_it_is(tmp_path, astronaut):
    """`visionflow models ID --json` is what a user copies into a model folder: its "file"
    (where the zoo keeps the model) is not a field of the description, `path` is."""
    folder = model_folder(tmp_path / "emotion")
    entry = find_entry("fer/emotion")
    written = {**zoo_description("fer/emotion"), "file": str(model_file(entry))}
    (folder / "model.yaml").write_text(yaml.safe_dump(written))
    assert compile_text(emotion_document(folder.as_uri())).run({"in": astronaut}) == [
        {"out": "happy"}
    ]


def test_a_bare_model_file_without_its_task_says_where_the_fields_go(tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    shutil.copy(model_file(find_entry("fer/emotion")), folder)
    with pytest.raises(ModelError) as error:
        compile_text(emotion_document(folder.as_uri()))
    assert error.value.message == "model 'model': field 'task' is required"
    assert error.value.hint.startswith(
        f"its fields are the entry's and those of the model description in '{folder.as_uri()}'"
    )
    assert "{source: URL, task: ...}" in error.value.hint


def test_an_ssd_detector_described_without_anchors_names_the_fields(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    shutil.copy(model_file(find_entry("mediapipe/face_detection_short_range")), folder)
    entry = {"source": folder.as_uri(), "task": "object_detection", "format": "blazeface"}
    document = {"name": "faces", "version": "1", "models": {"faces": entry},
                "workflow": {"out": ["faces", "in"]}}  # fmt: skip
    with pytest.raises(ModelError) as error:
        Workflow.compile(document, cache=False)
    expected = "model 'faces': postprocessing.anchors must give at least 'strides'"
    assert error.value.message == expected
    assert error.value.hint.startswith("an SSD detector's anchors take strides, min_scale, ")


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("file://models/face.zip", "'file://models/face.zip' names another host's file: "
         "'models' is read as a host name", "a local file is file:// and its absolute path, "
         "three slashes in all: file:///models/face.zip names /models/face.zip"),
        ("file:///no/such/face.zip", "'file:///no/such/face.zip' names nothing: no file or "
         "folder /no/such/face.zip", "a file:// URL holds an absolute path; "
         "Path(...).resolve().as_uri() writes one"),
    ],
)  # fmt: skip
def test_a_file_url_that_names_no_local_file_says_how_to_write_one(url, message, hint):
    with pytest.raises(ModelError) as error:
        resolve_model_url(url, trusted=True, place="models 'model'")
    assert (error.value.message, error.value.hint) == (message, hint)


def test_a_file_url_is_refused_to_documents_from_others(tmp_path):
    folder = model_folder(tmp_path / "emotion")
    with pytest.raises(CustomCodeNotAllowedError) as error:
        compile_text(emotion_document(folder.as_uri()), allow_custom_code=False)
    assert error.value.place == "steps[1] 'out/1' models 'model'"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def served(tmp_path) -> Iterator[str]:
    """A folder served over HTTP on 127.0.0.1: its URL."""
    root = tmp_path / "site"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def downloads() -> Iterator[None]:
    allow_model_downloads(True)
    yield
    allow_model_downloads(None)


def test_the_models_section_example_with_a_mar_download_and_a_mapped_zoo_name(
    tmp_path, served, cache, downloads, astronaut
):
    site = tmp_path / "site" / "path" / "to"
    site.mkdir(parents=True)
    zipped(model_folder(tmp_path / "emotion"), site / "model.mar")
    mapped = tmp_path / "facex.yaml"
    entry = find_entry("facex/emotion")
    mapped.write_text(yaml.safe_dump({**entry.description, "path": str(model_file(entry))}))
    document = f"""
    name: "MyWorkflow"
    version: "1.2.0"
    models:
      modelA: "{served}/path/to/model.mar"
      modelB: "djl://ai.djl.mxnet/ssd/0.0.1/ssd_512_resnet50_v1_voc"
    workflow:
      face: [crop, in, {{literal: [160, 50, 290, 200]}}]
      out: [topClass, [consensus, [ensemble, [modelA, modelB], face]]]
    """
    with pytest.raises(DefinitionError) as error:
        compile_text(document)
    assert error.value.place == "models 'modelB'"
    assert error.value.message == (
        "model 'modelB' is a DJL model zoo URL (djl://ai.djl.mxnet/ssd/0.0.1/"
        "ssd_512_resnet50_v1_voc); DJL's model zoo is not available here"
    )
    assert "--model modelB=PATH" in error.value.hint
    map_models([f"modelB={mapped}"])  # the operator's model for that name
    try:
        workflow = compile_text(document)
    finally:
        map_models([])
    assert workflow.run({"in": astronaut}) == [{"out": "happy"}]
    (download,) = (cache / "downloads").iterdir()
    assert (download / "model.mar").is_file()


def test_a_download_is_refused_unless_the_operator_allows_it(served, cache):
    with pytest.raises(ModelDownloadsOffError) as error:  # the operator's switch, named
        compile_text(emotion_document(f"{served}/model.zip"))
    assert "model downloads are off" in error.value.message
    assert "VISIONFLOW_ALLOW_MODEL_DOWNLOADS=1" in error.value.hint
    assert not cache.exists()


def test_a_djl_criteria_object_names_the_entry_and_the_way_to_map_it():
    document = """
    name: "MyWorkflow"
    version: "1.2.0"
    models:
      resnet:
        application: "cv/image_classification"
        engine: "MXNet"
        groupId: "ai.djl.mxnet"
        artifactId: "resnet"
        name: "Resnet"
        translator: "com.package.TranslatorClass"
    workflow:
      out: ["resnet", "in"]
    """
    with pytest.raises(DefinitionError) as error:
        compile_text(document)
    assert error.value.place == "models 'resnet'"
    assert "a DJL criteria object (application, artifactId, engine, groupId)" in (
        error.value.message
    )
    assert "--model resnet=PATH" in error.value.hint


def test_an_unknown_url_scheme_is_a_compile_error():
    with pytest.raises(ModelError) as error:
        compile_text(emotion_document("s3://bucket/model.zip"))
    assert error.value.place == "models 'model'"
    assert "'s3://' URL" in error.value.message


# --- functions given the executor -----------------------------------------------------------

FACES = "mediapipe/face_detection_short_range"


def executor_workflow(function: str, **models: str) -> Workflow:
    return Workflow.compile(
        {
            "name": "executor",
            "version": "1.0",
            "models": models,
            "functions": {
                "f": f"djlflows:{function}",
                "cascade": "djlflows:cascade",
            },
            "workflow": {"out": ["f", "in"]},
        },
        cache=False,
    )


def test_a_function_runs_a_cascade_through_the_executor(functions, astronaut, chelsea):
    workflow = executor_workflow("cascade", faces=FACES, emotion="fer/emotion")
    assert workflow.run({"in": [astronaut, chelsea]}) == [{"out": ["happy"]}, {"out": []}]


def test_a_function_retries_with_another_model(functions, astronaut):
    face = np.ascontiguousarray(astronaut[30:230, 130:330])
    workflow = executor_workflow(
        "first_model_that_finds", palms="mediapipe/palm_detection", faces=FACES
    )
    assert workflow.run({"in": face}) == [{"out": ("faces", 1)}]


def test_a_function_loops_over_a_model(functions, astronaut):
    workflow = executor_workflow("count_three_times", faces=FACES)
    assert workflow.run({"in": astronaut}) == [{"out": [1, 1, 1]}]


def test_a_function_calls_another_declared_function(functions, astronaut):
    workflow = executor_workflow("emotions_of_crops", faces=FACES, emotion="fer/emotion")
    assert workflow.run({"in": astronaut}) == [{"out": ["happy"]}]


def test_an_unknown_model_asked_of_the_executor_names_the_known_ones(functions, astronaut):
    workflow = executor_workflow("ask_unknown", faces=FACES)
    with pytest.raises(StepExecutionError) as error:
        workflow.run({"in": astronaut})
    assert "no model 'nobody' in this workflow; its models: ['faces']" in str(error.value)


def test_a_function_given_the_executor_is_custom_code(functions):
    with pytest.raises(CustomCodeNotAllowedError):
        Workflow.compile(
            {
                "name": "executor",
                "version": "1.0",
                "models": {"faces": FACES},
                "functions": {"f": "djlflows:cascade"},
                "workflow": {"out": ["f", "in"]},
            },
            allow_custom_code=False,
            cache=False,
        )


def test_a_function_taking_the_executor_first_as_djl_does(functions, astronaut):
    workflow = executor_workflow("executor_first", faces=FACES)
    assert workflow.run({"in": astronaut}) == [{"out": [1]}]
    document = {
        "name": "executor",
        "version": "1.0",
        "models": {"faces": FACES},
        "functions": {"f": "djlflows:calls_executor_first", "first": "djlflows:executor_first"},
        "workflow": {"out": ["f", "in"]},
    }
    assert Workflow.compile(document, cache=False).run({"in": astronaut}) == [{"out": [1, 1]}]
