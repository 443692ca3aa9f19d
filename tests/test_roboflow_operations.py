"""Roboflow Workflows' operations language (visionflow.expressions.roboflow).

Every expectation comes from Roboflow's public description of the language: the query
language entities of roboflow/inference
(`inference/core/workflows/core_steps/common/query_language/entities/operations.py`: each
operation's and comparator's `description`, fields and defaults; `entities/enums.py`: the
allowed values), which Roboflow's block documentation renders under `docs/workflows/`.
A comment on each test names the entity and the words it relies on.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

import cv2
import numpy as np
import pytest
import supervision as sv

from visionflow.data.image import WorkflowImage
from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.roboflow import (
    BINARY_NAMES,
    OPERATION_NAMES,
    UNARY_NAMES,
    compile_operations,
    compile_statement,
)


def detections() -> sv.Detections:
    """Three boxes: a (car, 0.9), b (dog, 0.4), c (car, 0.7)."""
    return sv.Detections(
        xyxy=np.array([[10, 10, 50, 50], [60, 20, 100, 80], [0, 0, 20, 40]], dtype=float),
        confidence=np.array([0.9, 0.4, 0.7]),
        class_id=np.array([0, 1, 0]),
        data={
            "class_name": np.array(["car", "dog", "car"]),
            "detection_id": np.array(["a", "b", "c"]),
        },
    )


def ids(found: sv.Detections) -> list[str]:
    return [str(i) for i in found.data["detection_id"]]


def run(operations: list[dict], value, parameters: dict | None = None):
    return compile_operations(operations)(value, parameters)


def static(value, *operations: dict) -> dict:
    return {"type": "StaticOperand", "value": value, "operations": list(operations)}


def dynamic(name: str = "_", *operations: dict) -> dict:
    return {"type": "DynamicOperand", "operand_name": name, "operations": list(operations)}


def binary(left: dict, comparator: str, right: dict, negate: bool = False) -> dict:
    return {
        "type": "BinaryStatement",
        "left_operand": left,
        "comparator": {"type": comparator},
        "right_operand": right,
        "negate": negate,
    }


def unary(operand: dict, operator: str, negate: bool = False) -> dict:
    return {"type": "UnaryStatement", "operand": operand, "operator": {"type": operator},
            "negate": negate}  # fmt: skip


def group(*statements: dict, operator: str | None = None) -> dict:
    found = {"type": "StatementGroup", "statements": list(statements)}
    if operator:
        found["operator"] = operator
    return found


def compare(left, comparator: str, right) -> bool:
    return compile_statement(binary(static(left), comparator, static(right)))({})


def check(value, operator: str) -> bool:
    return compile_statement(unary(static(value), operator))({})


def confidence_at_least(threshold: float) -> dict:
    detection_confidence = {"type": "ExtractDetectionProperty", "property_name": "confidence"}
    return group(binary(dynamic("_", detection_confidence), "(Number) >=", static(threshold)))


# --- DetectionsPropertyExtract: "Extracts property from detections-based prediction (as a
# list of elements - one element represents single detection)"; DetectionsProperty values.


def test_property_extract_class_names_in_order():
    extract = {"type": "DetectionsPropertyExtract", "property_name": "class_name"}
    assert run([extract], detections()) == ["car", "dog", "car"]


def test_property_extract_confidences():
    extract = {"type": "DetectionsPropertyExtract", "property_name": "confidence"}
    assert run([extract], detections()) == [0.9, 0.4, 0.7]


def test_property_extract_class_ids():
    extract = {"type": "DetectionsPropertyExtract", "property_name": "class_id"}
    assert run([extract], detections()) == [0, 1, 0]


def test_property_extract_box_edges():
    for name, expected in [("x_min", [10, 60, 0]), ("y_min", [10, 20, 0]),
                           ("x_max", [50, 100, 20]), ("y_max", [50, 80, 40])]:  # fmt: skip
        assert run([{"type": "DetectionsPropertyExtract", "property_name": name}],
                   detections()) == expected  # fmt: skip


def test_property_extract_size_is_box_area():
    extract = {"type": "DetectionsPropertyExtract", "property_name": "size"}
    assert run([extract], detections()) == [1600.0, 2400.0, 800.0]


def test_property_extract_center_and_corners_as_pixel_points():
    center = {"type": "DetectionsPropertyExtract", "property_name": "center"}
    top_right = {"type": "DetectionsPropertyExtract", "property_name": "top_right"}
    bottom_left = {"type": "DetectionsPropertyExtract", "property_name": "bottom_left"}
    assert run([center], detections()) == [[30, 30], [80, 50], [10, 20]]
    assert run([top_right], detections()) == [[50, 10], [100, 20], [20, 0]]
    assert run([bottom_left], detections()) == [[10, 50], [60, 80], [0, 40]]


# --- SequenceLength: "determines the length of input sequence" (input kinds include the
# detection predictions).


def test_sequence_length_counts_detections():
    assert run([{"type": "SequenceLength"}], detections()) == 3


def test_sequence_length_of_a_list_after_extraction():
    chain = [{"type": "DetectionsPropertyExtract", "property_name": "class_name"},
             {"type": "SequenceLength"}]  # fmt: skip
    assert run(chain, detections()) == 3


# --- DetectionsFilter: "Filters out unwanted elements ... by applying filter operation in
# context of every single detection"; the detection is the operand named "_"
# (DynamicOperand's default operand_name).


def test_filter_keeps_detections_passing_the_statement():
    found = run([{"type": "DetectionsFilter", "filter_operation": confidence_at_least(0.5)}],
                detections())  # fmt: skip
    assert ids(found) == ["a", "c"]


def test_filter_reads_other_evaluation_parameters():
    class_name = {"type": "ExtractDetectionProperty", "property_name": "class_name"}
    keep = group(binary(dynamic("_", class_name), "in (Sequence)", dynamic("classes")))
    chain = compile_operations([{"type": "DetectionsFilter", "filter_operation": keep}])
    assert ids(chain(detections(), {"classes": ["dog"]})) == ["b"]


def test_filter_of_no_detections_gives_none():
    found = run([{"type": "DetectionsFilter", "filter_operation": confidence_at_least(0.5)}],
                sv.Detections.empty())  # fmt: skip
    assert len(found) == 0


def test_filter_leaves_its_input_unchanged():
    original = detections()
    run([{"type": "DetectionsFilter", "filter_operation": confidence_at_least(0.95)}], original)
    assert ids(original) == ["a", "b", "c"]


# --- ExtractDetectionProperty: "Extracts property from single detection".


def test_extract_detection_property_reads_one_detection():
    one = next(iter(detections()))
    for name, expected in [("class_name", "car"), ("confidence", 0.9), ("class_id", 0),
                           ("x_min", 10.0), ("size", 1600.0), ("center", (30.0, 30.0)),
                           ("bottom_right", (50.0, 50.0))]:  # fmt: skip
        chain = [{"type": "ExtractDetectionProperty", "property_name": name}]
        assert run(chain, one) == expected


# --- SortDetections: "Changes the order of detected bounding boxes"; ascending defaults to
# true; DetectionsSortProperties values.


def test_sort_by_confidence_descending():
    sort = {"type": "SortDetections", "mode": "confidence", "ascending": False}
    assert ids(run([sort], detections())) == ["a", "c", "b"]


def test_sort_ascending_by_default():
    assert ids(run([{"type": "SortDetections", "mode": "x_min"}], detections())) == ["c", "a", "b"]


def test_sort_by_size_and_by_center_y():
    assert ids(run([{"type": "SortDetections", "mode": "size"}], detections())) == ["c", "a", "b"]
    by_center_y = {"type": "SortDetections", "mode": "center_y", "ascending": False}
    assert ids(run([by_center_y], detections())) == ["b", "a", "c"]


# --- DetectionsSelection: "Selects bounding boxes based on predefined criterias";
# DetectionsSelectionMode values.


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("left_most", ["c"]), ("right_most", ["b"]), ("top_confidence", ["a"]),
     ("first", ["a"]), ("last", ["c"])],
)  # fmt: skip
def test_selection_picks_one_detection(mode, expected):
    assert ids(run([{"type": "DetectionsSelection", "mode": mode}], detections())) == expected


def test_selection_of_no_detections_is_empty():
    found = run([{"type": "DetectionsSelection", "mode": "left_most"}], sv.Detections.empty())
    assert len(found) == 0


# --- DetectionsOffset: "Makes detected bounding boxes bigger by applying offset to its size"
# (half the offset on each side); DetectionsShift: "Shifting detected bounding boxes in
# assigned direction".


def test_offset_grows_boxes_by_the_offset():
    found = run([{"type": "DetectionsOffset", "offset_x": 10, "offset_y": 20}], detections())
    assert found.xyxy[0].tolist() == [5.0, 0.0, 55.0, 60.0]


def test_offset_leaves_its_input_unchanged():
    original = detections()
    run([{"type": "DetectionsOffset", "offset_x": 10, "offset_y": 20}], original)
    assert original.xyxy[0].tolist() == [10.0, 10.0, 50.0, 50.0]


def test_shift_moves_boxes():
    found = run([{"type": "DetectionsShift", "shift_x": 5, "shift_y": -10}], detections())
    assert found.xyxy[1].tolist() == [65.0, 10.0, 105.0, 70.0]


# --- DetectionsRename: "Renames classes in detections based on provided mapping"; strict
# (default true): "all detections classes must be declared, otherwise error is raised";
# new_classes_id_offset (default 1024): "the first index given to re-mapped classes".


def test_rename_strict_gives_target_classes_ids_in_name_order():
    rename = {"type": "DetectionsRename", "class_map": {"car": "vehicle", "dog": "animal"}}
    found = run([rename], detections())
    assert found.data["class_name"].tolist() == ["vehicle", "animal", "vehicle"]
    assert found.class_id.tolist() == [1, 0, 1]


def test_rename_strict_refuses_a_class_left_out():
    rename = {"type": "DetectionsRename", "class_map": {"car": "vehicle"}}
    with pytest.raises(ExpressionEvaluationError, match="'dog' is not in class_map") as caught:
        run([rename], detections())
    assert caught.value.place == "operations[0]"


def test_rename_not_strict_keeps_other_classes_and_numbers_new_ones_from_the_offset():
    rename = {"type": "DetectionsRename", "class_map": {"dog": "animal"}, "strict": False}
    found = run([rename], detections())
    assert found.data["class_name"].tolist() == ["car", "animal", "car"]
    assert found.class_id.tolist() == [0, 1024, 0]


def test_rename_reads_the_class_map_from_a_parameter():
    # class_map: "Dictionary with classes replacement mapping or name of parameter
    # delivering the mapping"
    rename = {"type": "DetectionsRename", "class_map": "mapping", "strict": False,
              "new_classes_id_offset": 7}  # fmt: skip
    found = compile_operations([rename])(detections(), {"mapping": {"car": "auto"}})
    assert found.data["class_name"].tolist() == ["auto", "dog", "auto"]
    assert found.class_id.tolist() == [7, 1, 7]


def test_rename_needs_class_names_to_class_names():
    # a number among the targets once failed when run, with Python's "'<' not supported"
    rename = {"type": "DetectionsRename", "class_map": {"car": 5, "dog": None}}
    with pytest.raises(ExpressionError) as caught:
        compile_operations([rename])
    assert caught.value.place == "operations[0].class_map"
    assert caught.value.message.startswith("expected a mapping of class names to class names")
    given = {"type": "DetectionsRename", "class_map": "mapping"}
    with pytest.raises(ExpressionEvaluationError, match="a mapping of texts to texts") as caught:
        compile_operations([given])(detections(), {"mapping": {"car": 1, "dog": "animal"}})
    assert caught.value.place == "operations[0]"


# --- PickDetectionsByParentClass: "Picks only those detections which are located inside
# parent detections of specific class" (the parents themselves are not picked, as Roboflow's
# query language tests expect).


def test_pick_by_parent_class_keeps_the_detections_inside_a_parent():
    found = sv.Detections(
        xyxy=np.array([[0, 0, 100, 100], [10, 10, 30, 30], [150, 150, 170, 170],
                       [200, 0, 300, 100], [280, 40, 320, 60]], float),
        confidence=np.array([0.9, 0.8, 0.7, 0.6, 0.5]),
        class_id=np.array([0, 1, 1, 0, 2]),
        data={"class_name": np.array(["car", "plate", "plate", "car", "wheel"]),
              "detection_id": np.array(["car1", "inside", "outside", "car2", "edge"])},
    )  # fmt: skip
    picked = run([{"type": "PickDetectionsByParentClass", "parent_class": "car"}], found)
    # "edge" has its center (300, 50) on car2's right edge, which counts as inside
    assert ids(picked) == ["inside", "edge"]


def test_pick_by_parent_class_without_parents_is_empty():
    picked = run([{"type": "PickDetectionsByParentClass", "parent_class": "bus"}], detections())
    assert len(picked) == 0


def test_pick_by_parent_class_without_class_names_is_empty():
    unnamed = sv.Detections(xyxy=np.array([[0, 0, 10, 10], [2, 2, 4, 4]], float))
    picked = run([{"type": "PickDetectionsByParentClass", "parent_class": "car"}], unnamed)
    assert len(picked) == 0


# --- DetectionsToDictionary: "Converts detections into `inference` response format
# dictionary" (center x/y, width, height, class, class_id, confidence, detection_id).


def test_detections_to_dictionary():
    found = run([{"type": "DetectionsToDictionary"}], detections()[[1]])
    assert found == {
        "image": None,
        "predictions": [{"x": 80.0, "y": 50.0, "width": 40.0, "height": 60.0,
                         "confidence": 0.4, "class_id": 1, "class": "dog",
                         "detection_id": "b"}],
    }  # fmt: skip


# --- strings: StringToUpperCase / StringToLowerCase ("Executes uppercase/lowercase
# operation on input string"), StringSubSequence ("Takes sub-string", start 0, end -1),
# StringMatches ("Checks if string matches regex"), ToString ("Stringifies data").


def test_upper_and_lower_case():
    assert run([{"type": "StringToUpperCase"}], "Car") == "CAR"
    assert run([{"type": "StringToLowerCase"}], "Car") == "car"


def test_sub_sequence_defaults_drop_the_last_character():
    assert run([{"type": "StringSubSequence"}], "plate") == "plat"
    assert run([{"type": "StringSubSequence", "start": 1, "end": 3}], "plate") == "la"


def test_string_matches_a_regex_anywhere_in_the_text():
    # as Roboflow's query language tests expect: "say hello" matches "hello"
    matches = {"type": "StringMatches", "regex": "[A-Z]{2}[0-9]+"}
    assert run([matches], "plate AB123") is True
    assert run([matches], "ab123") is False


def test_to_string():
    assert run([{"type": "ToString"}], 12) == "12"


# --- numbers: ToNumber ("float or int depending on configuration"), NumberRound,
# Multiply, Divide ("Dividing value against other"), RandomNumber (min 0, max 1).


def test_to_number_int_and_float():
    assert run([{"type": "ToNumber", "cast_to": "int"}], "12.7") == 12
    assert run([{"type": "ToNumber", "cast_to": "float"}], "12.5") == 12.5


def test_round_multiply_divide():
    assert run([{"type": "NumberRound", "decimal_digits": 1}], 3.14159) == 3.1
    assert run([{"type": "Multiply", "other": 2.5}], 4) == 10.0
    assert run([{"type": "Divide", "other": 4}], 10) == 2.5


def test_random_number_ignores_its_value_and_stays_in_range():
    assert run([{"type": "RandomNumber", "min_value": 3, "max_value": 3}], "anything") == 3
    value = run([{"type": "RandomNumber", "min_value": 2.0, "max_value": 4.0}], None)
    assert 2.0 <= value <= 4.0


def test_random_number_between_min_and_max_given_in_either_order():
    # Roboflow's formula, random() * (max - min) + min, stays between the two bounds even
    # when min_value is above max_value (once it went from min upwards: 5 to 9)
    for _ in range(50):
        value = run([{"type": "RandomNumber", "min_value": 5, "max_value": 1}], None)
        assert 1 < value <= 5


def test_random_number_range_beyond_floats_is_a_compile_error():
    with pytest.raises(ExpressionError, match="too large for a float") as caught:
        compile_operations([{"type": "RandomNumber", "min_value": -1e308, "max_value": 1e308}])
    assert caught.value.place == "operations[0]"


# --- ToBoolean ("Changes input data into boolean"), LookupTable ("Changes value according
# to mapping stated in lookup table").


def test_to_boolean():
    assert run([{"type": "ToBoolean"}], 0) is False
    assert run([{"type": "ToBoolean"}], 0.5) is True


def test_lookup_table():
    assert run([{"type": "LookupTable", "lookup_table": {"car": "vehicle"}}], "car") == "vehicle"


def test_lookup_table_without_the_value_is_an_error():
    with pytest.raises(ExpressionEvaluationError, match="not in the lookup table") as caught:
        run([{"type": "ToString"}, {"type": "LookupTable", "lookup_table": {"a": 1}}], 5)
    assert caught.value.place == "operations[1]"
    assert "'a'" in caught.value.hint


# --- sequences: SequenceMap ("Changes each value of sequence according to mapping"),
# SequenceApply ("applies chain of operations at every element"), NumericSequenceAggregate
# (min/max, neutral_value default None), SequenceAggregate (first, last, most_common,
# least_common), SequenceElementsCount ("counts unique elements").


def test_sequence_map():
    chain = [{"type": "SequenceMap", "lookup_table": {"car": 1, "dog": 2}}]
    assert run(chain, ["car", "dog", "car"]) == [1, 2, 1]


def test_sequence_apply_runs_a_chain_on_every_element():
    chain = [{"type": "DetectionsPropertyExtract", "property_name": "class_name"},
             {"type": "SequenceApply", "operations": [{"type": "StringToUpperCase"}]}]  # fmt: skip
    assert run(chain, detections()) == ["CAR", "DOG", "CAR"]


def test_numeric_aggregate_max_and_neutral_value():
    maximum = {"type": "NumericSequenceAggregate", "function": "max", "neutral_value": 0}
    assert run([maximum], [0.4, 0.9, 0.7]) == 0.9
    assert run([maximum], []) == 0


def test_sequence_aggregate_modes():
    values = ["dog", "car", "car", "bus", "bus", "bus"]
    for mode, expected in [("first", "dog"), ("last", "bus"), ("most_common", "bus"),
                           ("least_common", "dog")]:  # fmt: skip
        assert run([{"type": "SequenceAggregate", "mode": mode}], values) == expected


def test_sequence_aggregate_of_nothing_is_an_error():
    with pytest.raises(ExpressionEvaluationError, match="empty list"):
        run([{"type": "SequenceAggregate", "mode": "first"}], [])


def test_sequence_join():
    # SequenceJoin: elements as texts joined by the separator (", " by default)
    assert run([{"type": "SequenceJoin"}], ["a", "b"]) == "a, b"
    assert run([{"type": "SequenceJoin", "separator": "-"}], [1, 2, 3]) == "1-2-3"


def test_sequence_join_is_bounded():
    with pytest.raises(ExpressionEvaluationError, match="the limit is 1,000,000"):
        run([{"type": "SequenceJoin"}], ["a" * 400_000] * 3)


def test_timestamp_to_iso_format():
    moment = datetime(2026, 12, 7, 8, 30, 15)
    assert run([{"type": "TimestampToISOFormat"}], moment) == "2026-12-07T08:30:15"


def test_sequence_elements_count():
    assert run([{"type": "SequenceElementsCount"}], ["car", "dog", "car"]) == {"car": 2, "dog": 1}


# --- images: ExtractImageProperty ("Extracts specific property of image (like size)"),
# ConvertImageToJPEG (compression_level default 95), ConvertImageToBase64 ("base64-encoded
# JPEG"); ConvertDictionaryToJSON ("Converts dictionary to serialized JSON").


def image() -> WorkflowImage:
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, :, 2] = 200
    return WorkflowImage(pixels)


@pytest.mark.parametrize(
    ("name", "expected"), [("size", 24), ("height", 4), ("width", 6), ("aspect_ratio", 1.5)]
)
def test_image_properties(name, expected):
    assert run([{"type": "ExtractImageProperty", "property_name": name}], image()) == expected


def test_image_to_jpeg_bytes():
    encoded = run([{"type": "ConvertImageToJPEG", "compression_level": 90}], image())
    decoded = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_COLOR)
    assert encoded[:2] == b"\xff\xd8"
    assert decoded.shape == (4, 6, 3)


def test_image_to_base64_jpeg():
    encoded = run([{"type": "ConvertImageToBase64"}], image())
    assert base64.b64decode(encoded)[:2] == b"\xff\xd8"


def test_dictionary_to_json():
    text = run([{"type": "ConvertDictionaryToJSON"}], {"count": 2, "class": "car"})
    assert json.loads(text) == {"count": 2, "class": "car"}


# --- ClassificationPropertyExtract: ClassificationProperty values top_class,
# top_class_confidence, all_classes, all_confidences, and (newer releases)
# top_class_confidence_single: one number, 0 when no class is predicted.

SINGLE_LABEL = {
    "top": "cat", "confidence": 0.8,
    "predictions": [{"class": "cat", "class_id": 0, "confidence": 0.8},
                    {"class": "dog", "class_id": 1, "confidence": 0.2}],
}  # fmt: skip
MULTI_LABEL = {
    "predicted_classes": ["dog"],
    "predictions": {"cat": {"class_id": 0, "confidence": 0.3},
                    "dog": {"class_id": 1, "confidence": 0.9}},
}  # fmt: skip


@pytest.mark.parametrize(
    ("prediction", "name", "expected"),
    [(SINGLE_LABEL, "top_class", "cat"), (SINGLE_LABEL, "top_class_confidence", 0.8),
     (SINGLE_LABEL, "all_classes", ["cat", "dog"]), (SINGLE_LABEL, "all_confidences", [0.8, 0.2]),
     (MULTI_LABEL, "top_class", ["dog"]), (MULTI_LABEL, "top_class_confidence", [0.9]),
     (MULTI_LABEL, "all_classes", ["cat", "dog"]),
     (SINGLE_LABEL, "top_class_confidence_single", 0.8),
     (MULTI_LABEL, "top_class_confidence_single", 0.9),
     ({**MULTI_LABEL, "predicted_classes": []}, "top_class_confidence_single", 0.0)],
)  # fmt: skip
def test_classification_properties(prediction, name, expected):
    chain = [{"type": "ClassificationPropertyExtract", "property_name": name}]
    assert run(chain, prediction) == expected


def test_classification_properties_of_visionflows_multi_label_list():
    # visionflow's multi-label models give a list best first; Roboflow's all_classes and
    # all_confidences of a multi-label prediction are in class id order (once: best first)
    prediction = {
        "predicted_classes": ["dog", "cat"],
        "predictions": [
            {"class": "dog", "class_id": 2, "confidence": 0.9},
            {"class": "cat", "class_id": 0, "confidence": 0.6},
            {"class": "ant", "class_id": 1, "confidence": 0.1},
        ],
    }
    extract = [{"type": "ClassificationPropertyExtract", "property_name": "all_classes"}]
    assert run(extract, prediction) == ["cat", "ant", "dog"]
    extract[0]["property_name"] = "all_confidences"
    assert run(extract, prediction) == [0.6, 0.1, 0.9]
    extract[0]["property_name"] = "top_class_confidence"
    assert run(extract, prediction) == [0.9, 0.6]


# --- ClassificationFilter (Detections Filter v2): "evaluates a ClassificationFilter
# predicate for each selected class prediction. Single-label results retain matching
# entries in predictions and recompute top and confidence. Multi-label results retain
# matching entries in predicted_classes while preserving the complete class score map in
# predictions." Nothing left: single-label predictions=[], top="", confidence=0.0;
# multi-label predicted_classes=[]. ExtractClassificationPredictionProperty reads
# class_name, class_id or confidence of the class prediction.

CAT_AND_DOG = {
    "image": {"width": 100, "height": 80},
    "predictions": [{"class": "cat", "class_id": 0, "confidence": 0.9},
                    {"class": "dog", "class_id": 1, "confidence": 0.4}],
    "top": "cat", "confidence": 0.9, "parent_id": "parent", "inference_id": "inference",
}  # fmt: skip
CAT_DOG_BIRD = {
    "image": {"width": 100, "height": 80},
    "predictions": {"cat": {"class_id": 0, "confidence": 0.9},
                    "dog": {"class_id": 1, "confidence": 0.4},
                    "bird": {"class_id": 2, "confidence": 0.8}},
    "predicted_classes": ["cat", "dog"], "parent_id": "parent",
}  # fmt: skip


def class_filter(statement: dict) -> list[dict]:
    return [{"type": "ClassificationFilter", "filter_operation": statement}]


def class_property(name: str) -> dict:
    return {"type": "ExtractClassificationPredictionProperty", "property_name": name}


def class_confidence_at_least(name: str = "threshold") -> list[dict]:
    confidence = dynamic("_", class_property("confidence"))
    return class_filter(group(binary(confidence, "(Number) >=", dynamic(name))))


def test_classification_filter_keeps_single_label_classes_and_recomputes_the_top():
    before = json.dumps(CAT_AND_DOG)
    found = run(class_confidence_at_least(), CAT_AND_DOG, {"threshold": 0.5})
    assert found == {
        **CAT_AND_DOG,
        "predictions": [{"class": "cat", "class_id": 0, "confidence": 0.9}],
        "top": "cat",
        "confidence": 0.9,
    }
    assert json.dumps(CAT_AND_DOG) == before  # the input is left as it was


@pytest.mark.parametrize(("name", "value"), [("class_name", "dog"), ("class_id", 1)])
def test_classification_filter_by_class_name_or_id(name, value):
    chain = class_filter(group(binary(dynamic("_", class_property(name)), "==", static(value))))
    found = run(chain, CAT_AND_DOG)
    assert found["predictions"] == [{"class": "dog", "class_id": 1, "confidence": 0.4}]
    assert (found["top"], found["confidence"]) == ("dog", 0.4)


def test_classification_filter_leaving_no_single_label_class():
    found = run(class_confidence_at_least(), CAT_AND_DOG, {"threshold": 0.95})
    assert (found["predictions"], found["top"], found["confidence"]) == ([], "", 0.0)
    assert found["parent_id"] == "parent"


@pytest.mark.parametrize(("threshold", "kept"), [(0.5, ["cat"]), (0.3, ["cat", "dog"]), (0.95, [])])
def test_classification_filter_multi_label_keeps_every_score(threshold, kept):
    # bird scores 0.8 but was not predicted: only predicted classes are candidates
    found = run(class_confidence_at_least(), CAT_DOG_BIRD, {"threshold": threshold})
    assert found == {**CAT_DOG_BIRD, "predicted_classes": kept}


def test_classification_filter_on_visionflows_own_predictions():
    # visionflow's single-label results also carry the top class_id; its multi-label
    # results list every class (best first) instead of a mapping
    single = {
        "top": "happy", "confidence": 0.6, "class_id": 3, "parent_id": "image-1",
        "predictions": [{"class": "happy", "class_id": 3, "confidence": 0.6},
                        {"class": "sad", "class_id": 4, "confidence": 0.3},
                        {"class": "angry", "class_id": 0, "confidence": 0.1}],
    }  # fmt: skip
    not_happy = class_filter(
        group(binary(dynamic("_", class_property("class_name")), "==", static("happy"),
                     negate=True))
    )  # fmt: skip
    found = run(not_happy, single)
    assert (found["top"], found["confidence"], found["class_id"]) == ("sad", 0.3, 4)
    assert [p["class"] for p in found["predictions"]] == ["sad", "angry"]
    multi = {
        "predicted_classes": ["hat", "glasses"], "parent_id": "image-1",
        "predictions": [{"class": "hat", "class_id": 1, "confidence": 0.9},
                        {"class": "glasses", "class_id": 0, "confidence": 0.6},
                        {"class": "scarf", "class_id": 2, "confidence": 0.2}],
    }  # fmt: skip
    assert run(class_confidence_at_least(), multi, {"threshold": 0.7})["predicted_classes"] == [
        "hat"
    ]


def test_classification_filter_needs_a_classification_prediction():
    with pytest.raises(ExpressionEvaluationError) as caught:
        run(class_confidence_at_least(), detections(), {"threshold": 0.5})
    assert caught.value.message == "ClassificationFilter needs a dictionary, got detections (3)"
    assert caught.value.place == "operations[0]"


def test_classification_property_names_are_checked_when_compiled():
    chain = class_filter(group(binary(dynamic("_", class_property("top")), "==", static("a"))))
    with pytest.raises(ExpressionError) as caught:
        compile_operations(chain)
    assert caught.value.message == "unknown value 'top'"
    assert caught.value.hint == "valid values: class_name, class_id, confidence"


# --- comparators (BinaryStatement): Equals ("==", "(Number) =="), NotEquals, NumberGreater
# ... ("(Number) >"), String startsWith / endsWith / contains, In ("in (Sequence)": first
# value is element of second), AnyInSequence, AllInSequence, DetectionInZone.


@pytest.mark.parametrize(
    ("left", "comparator", "right", "expected"),
    [("car", "==", "car", True), (2, "(Number) ==", 2.0, True), ("car", "!=", "dog", True),
     (2, "(Number) !=", 2, False), (3, "(Number) >", 2, True), (2, "(Number) >=", 2, True),
     (2, "(Number) <", 2, False), (2, "(Number) <=", 2, True),
     ("plate-1", "(String) startsWith", "plate", True),
     ("plate-1", "(String) endsWith", "-2", False),
     ("a plate", "(String) contains", "pla", True), ("car", "in (Sequence)", ["car", "dog"], True),
     (["bus", "dog"], "any in (Sequence)", ["car", "dog"], True),
     (["bus", "dog"], "all in (Sequence)", ["car", "dog"], False),
     ([1, 1], "==", [1, 1], True)],
)  # fmt: skip
def test_comparators(left, comparator, right, expected):
    assert compare(left, comparator, right) is expected


def test_in_zone_checks_the_detection_center():
    zone = [[0, 0], [40, 0], [40, 40], [0, 40]]
    keep = group(binary(dynamic("_"), "(Detection) in zone", static(zone)))
    found = run([{"type": "DetectionsFilter", "filter_operation": keep}], detections())
    assert ids(found) == ["a", "c"]  # centers (30, 30) and (10, 20); b's (80, 50) is out


def test_in_zone_takes_a_point_and_counts_the_edge_as_inside():
    triangle = [[0, 0], [10, 0], [0, 10]]
    assert compare([5, 5], "(Detection) in zone", triangle) is True
    assert compare([6, 6], "(Detection) in zone", triangle) is False


def test_number_comparator_refuses_a_missing_value():
    statement = binary(dynamic("count"), "(Number) >", static(2))
    with pytest.raises(ExpressionEvaluationError, match="two numbers") as caught:
        compile_statement(statement)({"count": None})
    assert caught.value.place == "condition_statement"


# --- unary operators (UnaryStatement): Exists ("value is given (not None)"), DoesNotExist,
# "(Boolean) is True", "(Boolean) is False", "(Sequence) is empty", "(Sequence) is not empty".


@pytest.mark.parametrize(
    ("value", "operator", "expected"),
    [(0, "Exists", True), (None, "Exists", False), (None, "DoesNotExist", True),
     (True, "(Boolean) is True", True), (1, "(Boolean) is True", False),
     (False, "(Boolean) is False", True), ([], "(Sequence) is empty", True),
     ({"a": 1}, "(Sequence) is not empty", True)],
)  # fmt: skip
def test_unary_operators(value, operator, expected):
    assert check(value, operator) is expected


def test_detections_are_a_sequence_for_is_empty():
    statement = unary(dynamic("predictions"), "(Sequence) is empty")
    assert compile_statement(statement)({"predictions": sv.Detections.empty()}) is True
    assert compile_statement(statement)({"predictions": detections()}) is False


# --- statement groups: StatementGroup.operator "and"/"or" (default "or"); negate
# (default false) inverts a statement.

TRUE = binary(static(1), "==", static(1))
FALSE = binary(static(1), "==", static(2))


def test_group_or_is_the_default():
    assert compile_statement(group(FALSE, TRUE))({}) is True


def test_group_and_needs_every_statement():
    assert compile_statement(group(TRUE, FALSE, operator="and"))({}) is False
    assert compile_statement(group(TRUE, TRUE, operator="and"))({}) is True


def test_negate_inverts_binary_and_unary_statements():
    assert compile_statement(binary(static(1), "==", static(1), negate=True))({}) is False
    assert compile_statement(unary(static(None), "Exists", negate=True))({}) is True


def test_groups_nest():
    statement = group(FALSE, group(TRUE, TRUE, operator="and"))
    assert compile_statement(statement)({}) is True


# --- operands: StaticOperand (value + operations), DynamicOperand (operand_name in the
# evaluation parameters + operations).


def test_dynamic_operand_with_an_operation_chain():
    count = dynamic("predictions", {"type": "SequenceLength"})
    statement = group(binary(count, "(Number) >=", static(2)))
    assert compile_statement(statement)({"predictions": detections()}) is True


def test_static_operand_with_an_operation_chain():
    statement = binary(static("car", {"type": "StringToUpperCase"}), "==", dynamic("label"))
    assert compile_statement(statement)({"label": "CAR"}) is True


def test_dynamic_operand_not_given_when_run():
    with pytest.raises(ExpressionEvaluationError, match="no evaluation parameter 'n'") as caught:
        compile_statement(binary(dynamic("n"), "==", static(1)))({"m": 1})
    assert caught.value.hint == "given: m"


# --- compile errors: the place of the mistake, the valid names in the hint.


def test_unknown_operation_names_the_place_and_suggests():
    with pytest.raises(ExpressionError) as caught:
        compile_operations(
            [{"type": "ToString"}, {"type": "SequenceLength"}, {"type": "StringToUperCase"}]
        )
    error = caught.value
    assert error.code == "invalid_expression"
    assert error.place == "operations[2]"
    assert error.message == "unknown operation type 'StringToUperCase'"
    assert error.hint.startswith("did you mean 'StringToUpperCase'")
    assert "DetectionsFilter" in error.hint


def test_missing_field():
    with pytest.raises(ExpressionError, match="Multiply needs the field 'other'") as caught:
        compile_operations([{"type": "Multiply"}])
    assert caught.value.place == "operations[0]"


def test_unknown_field():
    with pytest.raises(ExpressionError, match="SortDetections has no field 'ascend'") as caught:
        compile_operations([{"type": "SortDetections", "mode": "size", "ascend": False}])
    assert "did you mean 'ascending'" in caught.value.hint


def test_value_not_among_the_choices():
    with pytest.raises(ExpressionError, match="unknown value 'confidenc'") as caught:
        compile_operations([{"type": "SortDetections", "mode": "confidenc"}])
    assert caught.value.place == "operations[0].mode"
    assert caught.value.hint.startswith("did you mean 'confidence'")


def test_field_of_the_wrong_type():
    with pytest.raises(ExpressionError, match="expected an integer, got 'ten'") as caught:
        compile_operations([{"type": "DetectionsShift", "shift_x": "ten", "shift_y": 0}])
    assert caught.value.place == "operations[0].shift_x"


@pytest.mark.parametrize(
    "operation, field",
    [
        ({"type": "DetectionsOffset", "offset_x": 10**400, "offset_y": 0}, "offset_x"),
        ({"type": "DetectionsShift", "shift_x": 0, "shift_y": -(2**60)}, "shift_y"),
        ({"type": "NumberRound", "decimal_digits": 2**64}, "decimal_digits"),
        (
            {"type": "DetectionsRename", "class_map": {"a": "b"}, "new_classes_id_offset": 10**30},
            "new_classes_id_offset",
        ),
        ({"type": "Multiply", "other": 10**400}, "other"),
        ({"type": "RandomNumber", "max_value": -(10**400)}, "max_value"),
    ],
)
def test_huge_integers_are_compile_errors(operation, field):
    # once an OverflowError stack trace at compile time (DetectionsOffset halves its
    # offsets) or an overflow each time it ran (numpy ids, floats)
    with pytest.raises(ExpressionError) as caught:
        compile_operations([operation])
    assert caught.value.place == f"operations[0].{field}"
    expected = (
        "a number within the range of floats"
        if field in ("other", "max_value")
        else ("an integer from -2**53 to 2**53")
    )
    assert caught.value.message.startswith(f"expected {expected}, got ")


def test_integers_up_to_2_to_the_53_still_compile():
    compile_operations([{"type": "DetectionsShift", "shift_x": 2**53, "shift_y": -(2**53)}])
    assert run([{"type": "Multiply", "other": 10**300}], 2.0) == 2e300


def test_error_inside_a_filter_names_the_nested_place():
    keep = group(binary(dynamic("_", {"type": "Nope"}), "==", static(1)))
    with pytest.raises(ExpressionError) as caught:
        compile_operations([{"type": "DetectionsFilter", "filter_operation": keep}])
    assert caught.value.place == (
        "operations[0].filter_operation.statements[0].left_operand.operations[0]"
    )


def test_unknown_comparator_lists_the_comparators():
    with pytest.raises(ExpressionError, match="unknown comparator type '>'") as caught:
        compile_statement(binary(static(1), ">", static(2)))
    assert caught.value.place == "condition_statement.comparator"
    assert "(Number) >" in caught.value.hint


def test_unknown_unary_operator():
    # a unary statement's operator is not called a comparator (it once was)
    with pytest.raises(ExpressionError, match="unknown operator type 'IsTrue'") as caught:
        compile_statement(unary(static(True), "IsTrue"))
    assert caught.value.hint.startswith("valid operator types: Exists, DoesNotExist")
    assert "(Boolean) is True" in caught.value.hint


def test_empty_statement_group():
    with pytest.raises(ExpressionError, match="non-empty list") as caught:
        compile_statement(group())
    assert caught.value.place == "condition_statement.statements"


def test_unknown_parameter_name_when_the_names_are_known():
    with pytest.raises(ExpressionError, match="no evaluation parameter 'treshold'") as caught:
        compile_statement(binary(dynamic("treshold"), "==", static(1)), parameters={"threshold"})
    assert caught.value.hint.startswith("did you mean 'threshold'")


def test_invalid_regex():
    with pytest.raises(ExpressionError, match="not a regular expression") as caught:
        compile_operations([{"type": "StringMatches", "regex": "("}])
    assert caught.value.place == "operations[0].regex"


def test_division_by_zero_is_refused_at_compile_time():
    with pytest.raises(ExpressionError, match="Divide by 0"):
        compile_operations([{"type": "Divide", "other": 0}])


@pytest.mark.parametrize(
    ("operations", "place", "message"),
    [(None, "operations", "operations must be a list, got NoneType"),
     ([None], "operations[0]", "expected an operation (a mapping with 'type'), got NoneType"),
     ([{}], "operations[0]", "no 'type'"),
     ([{"type": ["a"]}], "operations[0]", "unknown operation type ['a']"),
     ([{"type": "Multiply", "other": True}], "operations[0].other", "expected a number, got True"),
     ([{"type": "LookupTable", "lookup_table": [1]}], "operations[0].lookup_table",
      "expected a mapping, got [1]"),
     ([{"type": "ConvertImageToJPEG", "compression_level": 0}],
      "operations[0].compression_level", "expected 1 to 100, got 0"),
     ([{"type": "DetectionsFilter", "filter_operation": {"type": "StatementGroup"}}],
      "operations[0].filter_operation", "StatementGroup needs the field 'statements'")],
)  # fmt: skip
def test_malformed_definitions_are_compile_errors(operations, place, message):
    with pytest.raises(ExpressionError) as caught:
        compile_operations(operations)
    assert (caught.value.place, caught.value.message) == (place, message)


def test_nesting_is_bounded():
    nested: list = [{"type": "ToString"}]
    for _ in range(40):
        nested = [{"type": "SequenceApply", "operations": nested}]
    with pytest.raises(ExpressionError, match="nested deeper than 32 levels"):
        compile_operations(nested)


# --- runtime type mismatches name the operation and where it is.


def test_string_operation_on_a_number():
    with pytest.raises(ExpressionEvaluationError) as caught:
        run([{"type": "ToString"}, {"type": "ToNumber", "cast_to": "int"},
             {"type": "StringToUpperCase"}], 3)  # fmt: skip
    assert caught.value.place == "operations[2]"
    assert caught.value.message == "StringToUpperCase needs a text, got int 3"


def test_detections_operation_on_a_list():
    with pytest.raises(ExpressionEvaluationError, match="SortDetections needs detections"):
        run([{"type": "SortDetections", "mode": "size"}], [1, 2])


def test_every_documented_name_is_known():
    assert len(OPERATION_NAMES) == 38  # with ClassificationFilter and its property, frames
    assert len(BINARY_NAMES) == 15
    assert len(UNARY_NAMES) == 6


def test_in_sequence_looks_up_dictionary_keys():
    # In: "Checks if first value is element of second value (usually list or dictionary)"
    assert compare("car", "in (Sequence)", {"car": 1}) is True
    assert compare("bus", "in (Sequence)", {"car": 1}) is False


def test_rename_parameter_name_checked_when_the_names_are_known():
    rename = {"type": "DetectionsRename", "class_map": "mapin"}
    with pytest.raises(ExpressionError, match="no evaluation parameter 'mapin'") as caught:
        compile_operations([rename], parameters={"mapping"})
    assert caught.value.place == "operations[0].class_map"
    assert caught.value.hint.startswith("did you mean 'mapping'")


def test_filter_statement_may_read_the_detection_when_the_names_are_known():
    chain = compile_operations(
        [{"type": "DetectionsFilter", "filter_operation": confidence_at_least(0.8)}],
        parameters={"image"},
    )
    assert ids(chain(detections())) == ["a"]


def test_unknown_statement_type():
    with pytest.raises(ExpressionError, match="unknown statement type 'StatementGrup'") as caught:
        compile_statement({"type": "StatementGrup"})
    assert caught.value.hint.startswith("did you mean 'StatementGroup'?")


def test_statement_nesting_is_bounded():
    statement = TRUE
    for _ in range(40):
        statement = group(statement)
    with pytest.raises(ExpressionError, match="nested deeper than 32 levels"):
        compile_statement(statement)


def test_error_inside_a_filter_when_run_names_the_nested_operation():
    upper = {"type": "StringToUpperCase"}
    confidence = {"type": "ExtractDetectionProperty", "property_name": "confidence"}
    keep = group(binary(dynamic("_", confidence, upper), "==", static("X")))
    with pytest.raises(ExpressionEvaluationError, match="StringToUpperCase needs a text") as caught:
        run([{"type": "DetectionsFilter", "filter_operation": keep}], detections())
    assert caught.value.place == (
        "operations[0].filter_operation.statements[0].left_operand.operations[1]"
    )


def test_extract_detection_property_refuses_several_detections():
    chain = [{"type": "ExtractDetectionProperty", "property_name": "confidence"}]
    with pytest.raises(ExpressionEvaluationError, match="needs one detection, got detections"):
        run(chain, detections())


def test_is_empty_refuses_a_number():
    with pytest.raises(ExpressionEvaluationError, match="is empty' needs a list"):
        check(3, "(Sequence) is empty")


def test_to_number_refuses_a_word():
    with pytest.raises(ExpressionEvaluationError, match="ToNumber needs a number"):
        run([{"type": "ToNumber", "cast_to": "float"}], "seven")
