"""The expression language: what it computes, what it refuses, and what its errors say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

import visionflow.expressions
from visionflow.data.image import WorkflowImage
from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions import (
    FUNCTIONS,
    PROPERTIES,
    CompiledExpression,
    compile_expression,
    extract_property,
)


def evaluate(text: str, **variables):
    return compile_expression(text).evaluate(variables)


@pytest.fixture
def detections() -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([[0, 0, 10, 20], [10, 10, 40, 30], [5, 5, 7, 9]], dtype=float),
        confidence=np.array([0.5, 0.9, 0.3]),
        class_id=np.array([1, 2, 1]),
        data={
            "class_name": np.array(["dog", "car", "dog"]),
            "detection_id": np.array(["d1", "d2", "d3"]),
        },
    )


@pytest.fixture
def single_label() -> dict:
    return {
        "top": "cat",
        "confidence": 0.93,
        "class_id": 3,
        "predictions": [
            {"class": "dog", "class_id": 1, "confidence": 0.05},
            {"class": "cat", "class_id": 3, "confidence": 0.93},
            {"class": "fox", "class_id": 2, "confidence": 0.02},
        ],
        "parent_id": "image-1",
    }


@pytest.fixture
def multi_label() -> dict:
    return {
        "predicted_classes": ["sky", "sea"],
        "predictions": [
            {"class": "sea", "class_id": 0, "confidence": 0.7},
            {"class": "sand", "class_id": 1, "confidence": 0.2},
            {"class": "sky", "class_id": 2, "confidence": 0.8},
        ],
        "parent_id": "image-1",
    }


# --- the language -----------------------------------------------------------------------


def test_arithmetic_follows_python_precedence():
    assert evaluate("1 + 2 * 3 ** 2 - 8 / 4") == 17.0
    assert evaluate("(1 + 2) * 3") == 9
    assert evaluate("7 // 2, 7 % 2, -2 ** 2") == (3, 1, -4)


def test_comparisons_chain_like_python():
    assert evaluate("0 < x <= 1", x=0.5) is True
    assert evaluate("0 < x <= 1", x=1.5) is False
    assert evaluate("a != b", a="car", b="dog") is True


def test_in_and_not_in():
    assert evaluate("'car' in names", names=["car", "bus"]) is True
    assert evaluate("'dog' not in names", names=["car", "bus"]) is True


def test_is_none_and_is_not_none():
    assert evaluate("x is None", x=None) is True
    assert evaluate("x is not None and x > 3", x=None) is False


def test_and_or_short_circuit():
    assert evaluate("False and 1 / 0") is False
    assert evaluate("True or 1 / 0") is True
    assert evaluate("a and b and c", a=1, b=0, c=1 / 1) == 0
    assert evaluate("a or b or c", a=0, b="", c="x") == "x"


def test_not():
    assert evaluate("not a", a=[]) is True


def test_conditional_expression():
    assert evaluate("'big' if area > 100 else 'small'", area=250) == "big"
    assert evaluate("'big' if area > 100 else 'small'", area=50) == "small"


def test_subscripts_keys_and_slices():
    assert evaluate("xs[0] + xs[-1]", xs=[1, 2, 3]) == 4
    assert evaluate("box['width']", box={"width": 7}) == 7
    assert evaluate("xs[1:3]", xs=[1, 2, 3, 4]) == [2, 3]
    assert evaluate("xs[::2]", xs=[1, 2, 3, 4]) == [1, 3]


def test_literals():
    assert evaluate("[1, 'a', None, True]") == [1, "a", None, True]
    assert evaluate("{'k': x, 'n': 2}", x=1) == {"k": 1, "n": 2}
    assert evaluate("{1, 1, 2}") == {1, 2}


def test_general_functions():
    assert evaluate("len(xs), min(xs), max(xs), sum(xs)", xs=[3, 1, 2]) == (3, 1, 3, 6)
    assert evaluate("sorted(xs, reverse=True)", xs=[3, 1, 2]) == [3, 2, 1]
    assert evaluate("round(mean(xs), 2)", xs=[1, 2, 2]) == 1.67
    assert evaluate("unique(xs)", xs=["b", "a", "b"]) == ["b", "a"]
    assert evaluate("count_of(xs, 'b')", xs=["b", "a", "b"]) == 2
    assert evaluate("upper(strip(' car '))") == "CAR"
    assert evaluate("startswith(s, 'ca') and endswith(s, 'r')", s="car") is True
    assert evaluate("contains('cargo', 'car')") is True
    assert evaluate("int('3') + float('0.5')") == 3.5
    assert evaluate("max(xs, default=0)", xs=[]) == 0


def test_names_are_the_variables_read():
    expression = compile_expression("count(p) > n and 'car' in class_names(p)")
    assert isinstance(expression, CompiledExpression)
    assert expression.names == frozenset({"p", "n"})


def test_compiled_expressions_are_cached():
    assert compile_expression("a + 1", variables={"a"}) is compile_expression(
        "a + 1", variables={"a"}
    )


def test_every_property_is_a_function():
    assert set(PROPERTIES) <= set(FUNCTIONS)


# --- properties of detections -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("count", 3),
        ("class_names", ["dog", "car", "dog"]),
        ("class_ids", [1, 2, 1]),
        ("confidences", [0.5, 0.9, 0.3]),
        ("boxes", [[0, 0, 10, 20], [10, 10, 40, 30], [5, 5, 7, 9]]),
        ("xyxy", [[0, 0, 10, 20], [10, 10, 40, 30], [5, 5, 7, 9]]),
        ("centers", [[5, 10], [25, 20], [6, 7]]),
        ("areas", [200, 600, 8]),
        ("widths", [10, 30, 2]),
        ("heights", [20, 20, 4]),
        ("detection_ids", ["d1", "d2", "d3"]),
        ("top_class", "car"),
        ("top_confidence", 0.9),
        ("keypoints", [[], [], []]),
    ],
)
def test_detection_properties(detections, name, expected):
    assert extract_property(detections, name) == expected


def test_detection_properties_are_plain_python_values(detections):
    assert type(extract_property(detections, "confidences")[0]) is float
    assert type(extract_property(detections, "class_ids")[0]) is int


def test_class_names_fall_back_to_class_ids():
    detections = sv.Detections(xyxy=np.array([[0, 0, 1, 1]], float), class_id=np.array([4]))
    assert extract_property(detections, "class_names") == ["4"]


def test_keypoints_of_detections():
    detections = sv.Detections(
        xyxy=np.array([[0, 0, 9, 9]], dtype=float),
        data={"keypoints_xy": np.array([[[1, 2], [3, 4]]], dtype=float)},
    )
    assert extract_property(detections, "keypoints") == [[[1.0, 2.0], [3.0, 4.0]]]


def test_empty_detections_have_no_top_class():
    empty = sv.Detections.empty()
    assert extract_property(empty, "top_class") is None
    assert extract_property(empty, "top_confidence") is None
    assert extract_property(empty, "count") == 0


def test_properties_as_functions_in_expressions(detections):
    text = "count(p) >= 2 and 'car' in class_names(p) and max(confidences(p)) > 0.8"
    assert evaluate(text, p=detections) is True
    assert evaluate("count_of(class_names(p), 'dog')", p=detections) == 2


# --- properties of classifications, images, sequences -----------------------------------


def test_single_label_classification_properties(single_label):
    assert extract_property(single_label, "top_class") == "cat"
    assert extract_property(single_label, "top_confidence") == 0.93
    assert extract_property(single_label, "class_names") == ["cat", "dog", "fox"]
    assert extract_property(single_label, "confidences") == [0.93, 0.05, 0.02]
    assert extract_property(single_label, "predicted_classes") == ["cat"]
    assert extract_property(single_label, "count") == 3


def test_multi_label_classification_properties(multi_label):
    assert extract_property(multi_label, "top_class") == "sky"
    assert extract_property(multi_label, "top_confidence") == 0.8
    assert extract_property(multi_label, "class_names") == ["sky", "sea", "sand"]
    assert extract_property(multi_label, "predicted_classes") == ["sky", "sea"]


def test_image_properties():
    image = WorkflowImage(np.zeros((40, 60, 3), np.uint8), image_id="frame-7")
    assert extract_property(image, "width") == 60
    assert extract_property(image, "height") == 40
    assert extract_property(image, "image_size") == {"width": 60, "height": 40}
    assert extract_property(image, "aspect_ratio") == 1.5
    assert extract_property(image, "image_id") == "frame-7"


def test_sequence_properties():
    assert extract_property([3, 1, 3], "first") == 3
    assert extract_property("abc", "last") == "c"
    assert extract_property({"a": 1, "b": 2}, "last") == 2
    assert extract_property((), "is_empty") is True
    assert extract_property([], "first") is None


def test_list_properties():
    values = [2, 4, 4]
    assert [extract_property(values, name) for name in ("unique", "sum", "mean")] == [
        [2, 4],
        10,
        10 / 3,
    ]
    assert extract_property(values, "min") == 2
    assert extract_property([], "max") is None


def test_properties_of_none():
    assert extract_property(None, "count") == 0
    assert extract_property(None, "is_empty") is True
    assert extract_property(None, "top_class") is None


def test_a_property_that_does_not_apply_names_what_it_applies_to():
    with pytest.raises(ValueError, match=r"property 'width' does not apply to list values; "):
        extract_property([1], "width")
    with pytest.raises(ValueError, match=r"it applies to: image$"):
        extract_property([1], "width")


def test_an_unknown_property_suggests_close_names():
    with pytest.raises(
        ValueError, match=r"unknown property 'clas_names'; did you mean class_names"
    ):
        extract_property([1], "clas_names")


# --- refused at compile time ------------------------------------------------------------


def refusal(text: str, **options) -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text, **options)
    return caught.value


def test_attribute_access_is_refused_at_its_column():
    error = refusal("().__class__")
    assert (
        error.message == "in `().__class__`, column 3: attribute access '.__class__' is not allowed"
    )
    assert "calls of the functions by name" in error.hint


def test_attribute_access_suggests_the_function_of_that_name():
    assert refusal("p.class_names").hint == "call a function instead, e.g. class_names(x)"


def test_names_starting_with_underscore_are_refused():
    assert refusal("__import__('os')").message == (
        "in `__import__('os')`, column 1: names starting with '_' are not allowed ('__import__')"
    )


def test_unknown_functions_are_refused():
    assert refusal("open('x')").message == "in `open('x')`, column 1: unknown function 'open'"
    assert refusal("cuont(p)").hint.startswith("did you mean 'count' or 'count_of'")


def test_only_function_names_can_be_called():
    assert "only functions can be called, by name" in refusal("xs[0](1)").message


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("lambda: 1", "a lambda is not allowed"),
        ("(y := 1)", "assignment with ':=' is not allowed"),
        ("f'{a}'", "an f-string is not allowed"),
        ("[*xs]", "unpacking with '*' is not allowed"),
        ("[c for c in xs]", "a comprehension is not allowed"),
        ("any(c > 0.5 for c in xs)", "a comprehension is not allowed"),
        ("{c: 1 for c in xs}", "a comprehension is not allowed"),
        ("a << 2", "operator '<<' is not allowed"),
        ("a is b", "'is' is only allowed with None"),
        ("b'x'", "a constant of type bytes is not allowed"),
        ("sorted(xs, key=len)", "sorted() takes no keyword argument 'key'"),
        ("count(a, b)", "count(): too many positional arguments"),
    ],
)
def test_constructs_outside_the_language_are_refused(text, what):
    assert refusal(text).message.endswith(what)


def test_comprehensions_are_refused_with_the_functions_to_use_instead():
    assert refusal("[c for c in xs if c > 0.5]").hint == (
        "use a function instead, e.g. count_of(class_names(p), 'car') or "
        "max(confidences(p), default=0) > 0.5; to keep some detections, use a filtering step"
    )


def test_unknown_variable_is_reported_with_a_suggestion():
    error = refusal("count(predictons) > 0", variables={"predictions", "image"})
    assert error.message == "in `count(predictons) > 0`, column 7: unknown name 'predictons'"
    assert error.hint == "did you mean 'predictions'? variables: image, predictions"


def test_a_hint_names_at_most_20_variables():
    variables = {f"v{i:04d}" + "x" * 250 for i in range(5000)}
    with pytest.raises(ExpressionError) as caught:
        compile_expression("nope", variables=variables)
    hint = caught.value.hint
    assert hint.endswith("x (and 4,980 more)")
    assert hint.count(", ") == 19


def test_a_function_name_used_as_a_value_is_reported():
    assert refusal("len", variables={"x"}).hint == "call it, e.g. len(x)"


def test_syntax_error_names_the_column():
    error = refusal("a > ", place="steps[0] 'filter' field 'condition'")
    assert error.message == "`a >` does not parse: invalid syntax at column 4\n    a >\n       ^"
    assert error.place == "steps[0] 'filter' field 'condition'"


def test_text_over_the_length_limit_is_refused():
    assert refusal("1 + " * 600 + "1").message == (
        "the expression is 2,401 characters long; the limit is 2,000"
    )


def test_deep_nesting_is_refused():
    assert refusal("-" * 500 + "1").message.endswith("nested over 100 levels deep")


# --- failures while evaluating ----------------------------------------------------------


def failure(text: str, **variables) -> ExpressionEvaluationError:
    with pytest.raises(ExpressionEvaluationError) as caught:
        evaluate(text, **variables)
    return caught.value


def test_evaluation_error_names_the_expression_and_the_cause():
    error = failure("score < 3", score=None)
    assert error.message == (
        "`score < 3` failed: TypeError: '<' not supported between instances of 'NoneType' and 'int'"
    )
    assert error.hint == "a value was None; guard it, e.g. `x is not None and x > 3`"
    assert isinstance(error.__cause__, TypeError)


def test_division_by_zero_is_an_evaluation_error():
    assert failure("1 / n", n=0).message == "`1 / n` failed: ZeroDivisionError: division by zero"


def test_a_missing_key_is_an_evaluation_error():
    assert failure("box['w']", box={}).message == "`box['w']` failed: KeyError: 'w'"


def test_a_missing_variable_is_an_evaluation_error():
    error = failure("a + b", a=1)
    assert error.message == "`a + b` uses the variable 'b', which was not given"
    assert error.hint == "given: a"


def test_a_property_on_the_wrong_type_is_an_evaluation_error():
    assert "property 'width' does not apply to list values" in failure("width(x)", x=[]).message


def test_huge_exponents_are_refused():
    assert failure("2 ** 5000").message == (
        "`2 ** 5000` failed: ValueError: exponent 5000 is over the limit of 1000"
    )
    assert "would have over 100,000 bits" in failure("(10 ** 100) ** 1000").message


def test_huge_repetitions_are_refused():
    assert failure("'ab' * 600000").message == (
        "`'ab' * 600000` failed: ValueError: '*' would make 1,200,000 items; the limit is 1,000,000"
    )


def test_repetitions_of_nested_lists_count_every_item():
    # each '*' made 10,000 items, but the answer held 100,000,000: writing it out hung
    assert failure("[[1] * 10**4] * 10**4").message == (
        "`[[1] * 10**4] * 10**4` failed: ValueError: '*' would make at least 100,010,000 "
        "items; the limit is 1,000,000"
    )
    assert compile_expression("[[1] * 999] * 999").evaluate({})[998] == [1] * 999


def test_sums_of_long_sequences_are_bounded_like_repetitions():
    # a chain of '+' copied each partial sum again: 160 terms of a million, minutes of CPU
    chain = " + ".join(["[1] * 10**6"] * 2)
    assert failure(chain).message == (
        f"`{chain}` failed: ValueError: '+' would make at least 2,000,000 items; "
        "the limit is 1,000,000"
    )
    assert "'+' would make 1,000,001 items" in failure("'x' * 10**6 + 'y'").message
    assert compile_expression("x + x").evaluate({"x": [1, [2, 3]]}) == [1, [2, 3], 1, [2, 3]]


def test_string_formatting_with_percent_is_refused():
    assert "formatting strings with % is not supported" in failure("'%s' % 1").message


def test_importing_does_not_import_supervision_or_cv2():
    code = (
        "import sys, visionflow.expressions;"
        "print(sorted(m for m in ('supervision', 'cv2') if m in sys.modules))"
    )
    source = str(Path(visionflow.expressions.__file__).parents[2])  # works uninstalled too
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([source, *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    assert result.stdout.strip() == "[]"
