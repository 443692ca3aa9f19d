"""Roboflow's operation chains (``operations: [{"type": ...}, ...]``) compiled to closures.

>>> chain = compile_operations([{"type": "StringToUpperCase"}, {"type": "SequenceLength"}])
>>> chain("car")
3

Each operation's fields are read once here (fields.py); the closure only runs the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.roboflow import detections, media, scalars, sequences
from visionflow.expressions.roboflow.fields import (
    Context,
    Field,
    anything,
    boolean,
    choice,
    definition_type,
    integer,
    mapping,
    number,
    parameter_or,
    read_fields,
    text,
)
from visionflow.expressions.roboflow.values import Parameters, expect_detections

Step = Callable[[Any, Parameters], Any]
_NO_PARAMETERS: Mapping[str, Any] = {}


@dataclass(frozen=True)
class Operation:
    """One operation type: its fields and how a closure is built from them."""

    fields: dict[str, Field]
    build: Callable[[dict, Context], Step]


class OperationChain:
    """A compiled chain: ``chain(value, parameters)`` runs every operation in order."""

    __slots__ = ("_place", "_steps")

    def __init__(self, steps: list[tuple[str, Step]], place: str):
        self._steps = steps
        self._place = place

    def __call__(self, value: Any, parameters: Parameters | None = None) -> Any:
        parameters = _NO_PARAMETERS if parameters is None else parameters
        for index, (name, step) in enumerate(self._steps):
            try:
                value = step(value, parameters)
            except ExpressionEvaluationError as error:
                raise error if error.place else error.at(f"{self._place}[{index}]") from None
            except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as error:
                raise ExpressionEvaluationError(
                    f"{name} failed: {type(error).__name__}: {error}",
                    place=f"{self._place}[{index}]",
                ) from error
        return value


def compile_operations(
    operations: object, place: str = "operations", parameters: Collection[str] | None = None
) -> OperationChain:
    """Compile a list of Roboflow operation dicts into one callable chain.

    ``parameters``, when given, are the evaluation parameter names the chain may read (for
    fields such as DetectionsRename's ``class_map`` given as a name): others are compile
    errors. Mistakes raise ``ExpressionError`` placed at ``place[i]``.
    """
    known = None if parameters is None else frozenset(parameters)
    return chain(operations, Context(place, known))


def chain(operations: object, context: Context) -> OperationChain:
    if not isinstance(operations, list | tuple):
        raise ExpressionError(
            f"operations must be a list, got {type(operations).__name__}", place=context.place
        )
    steps = []
    for index, definition in enumerate(operations):
        where = context.at(f"[{index}]")
        name = definition_type(definition, where, "operation", OPERATION_NAMES)
        spec = OPERATIONS[name]
        steps.append((name, spec.build(read_fields(definition, spec.fields, where, name), where)))
    return OperationChain(steps, context.place)


def _nested_chain(value: object, context: Context) -> OperationChain:
    return chain(value, context.nested(""))


def _filter_statement(value: object, context: Context):
    from visionflow.expressions.roboflow.statements import statement  # they nest each other

    # each detection is given to the statement as the parameter "_"
    return statement(value, context.nested("", extra_names=("_",)))


def _detections_filter(fields: dict, context: Context) -> Step:
    keep = fields["filter_operation"]

    def run(value, parameters):
        found = expect_detections("DetectionsFilter", value)
        local = dict(parameters)
        mask = []
        for detection in found:
            local["_"] = detection
            mask.append(bool(keep(local)))
        return found[np.array(mask, dtype=bool)] if mask else found

    return run


def _classification_filter(fields: dict, context: Context) -> Step:
    keep = fields["filter_operation"]

    def run(value, parameters):
        local = dict(parameters)

        def accepts(candidate: dict) -> bool:
            local["_"] = candidate  # each class prediction, as DetectionsFilter's detections
            return bool(keep(local))

        return media.filter_classification(value, accepts)

    return run


def _sequence_apply(fields: dict, context: Context) -> Step:
    return sequences.sequence_apply(fields["operations"])


def _quality(value: object, context: Context) -> int:
    quality = integer(value, context)
    if not 1 <= quality <= 100:
        raise ExpressionError(f"expected 1 to 100, got {quality}", place=context.place)
    return quality


def _class_map(value, context: Context) -> dict:
    if not detections.is_class_map(value):  # parameter_or says what was expected
        raise ExpressionError("not a class map", place=context.place)
    return dict(value)


def _op(build: Callable[[dict, Context], Step], **fields: Field) -> Operation:
    return Operation(fields, build)


_PROPERTY = Field(choice(*detections.DETECTIONS_PROPERTIES), describe="a detections property")
_LOOKUP = Field(mapping, describe="a mapping of value -> new value")
_NUMBER = Field(number, describe="a number")
_INTEGER = Field(integer, describe="an integer")
_RENAME_MAP = Field(
    parameter_or(_class_map, "a mapping of class names to class names"),
    describe="a mapping old -> new class",
)
_STATEMENT = Field(_filter_statement, describe="a StatementGroup")
_NESTED = Field(_nested_chain, describe="a list of operations")
_AGGREGATIONS = choice("first", "last", "most_common", "least_common")

OPERATIONS: dict[str, Operation] = {
    # detections
    "DetectionsFilter": _op(_detections_filter, filter_operation=_STATEMENT),
    "DetectionsPropertyExtract": _op(
        detections.extract_detections_property, property_name=_PROPERTY
    ),
    "ExtractDetectionProperty": _op(detections.extract_detection_property, property_name=_PROPERTY),
    "DetectionsSelection": _op(
        detections.select_detections, mode=Field(choice(*detections.SELECTION_MODES))
    ),
    "SortDetections": _op(
        detections.sort_detections,
        mode=Field(choice(*detections.SORT_MODES)),
        ascending=Field(boolean, True),
    ),
    "DetectionsOffset": _op(detections.offset_detections, offset_x=_INTEGER, offset_y=_INTEGER),
    "DetectionsShift": _op(detections.shift_detections, shift_x=_INTEGER, shift_y=_INTEGER),
    "DetectionsRename": _op(
        detections.rename_detections,
        class_map=_RENAME_MAP,
        strict=Field(parameter_or(boolean, "true or false"), True),
        new_classes_id_offset=Field(integer, 1024),
    ),
    "PickDetectionsByParentClass": _op(detections.pick_by_parent_class, parent_class=Field(text)),
    "DetectionsToDictionary": _op(detections.detections_to_dictionary),
    # texts
    "StringToLowerCase": _op(scalars.lower_case),
    "StringToUpperCase": _op(scalars.upper_case),
    "StringSubSequence": _op(scalars.sub_sequence, start=Field(integer, 0), end=Field(integer, -1)),
    "StringMatches": _op(scalars.string_matches, regex=Field(text, describe="a pattern")),
    "ToString": _op(scalars.to_string),
    "TimestampToISOFormat": _op(scalars.timestamp_to_iso),
    # numbers and booleans
    "ToNumber": _op(scalars.to_number, cast_to=Field(choice("int", "float"))),
    "NumberRound": _op(scalars.number_round, decimal_digits=_INTEGER),
    "Multiply": _op(scalars.multiply, other=_NUMBER),
    "Divide": _op(scalars.divide, other=_NUMBER),
    "RandomNumber": _op(
        scalars.random_number, min_value=Field(number, 0.0), max_value=Field(number, 1.0)
    ),
    "ToBoolean": _op(scalars.to_boolean),
    "LookupTable": _op(scalars.lookup_table, lookup_table=_LOOKUP),
    # sequences
    "SequenceMap": _op(sequences.sequence_map, lookup_table=_LOOKUP),
    "SequenceApply": _op(_sequence_apply, operations=_NESTED),
    "NumericSequenceAggregate": _op(
        sequences.numeric_aggregate,
        function=Field(choice("min", "max")),
        neutral_value=Field(anything, None),
    ),
    "SequenceAggregate": _op(sequences.aggregate, mode=Field(_AGGREGATIONS)),
    "SequenceLength": _op(sequences.sequence_length),
    "SequenceElementsCount": _op(sequences.elements_count),
    "SequenceJoin": _op(sequences.join, separator=Field(text, ", ")),
    # images, dictionaries, classification predictions
    "ExtractImageProperty": _op(
        media.image_property, property_name=Field(choice(*media.IMAGE_PROPERTIES))
    ),
    "ExtractFrameMetadata": _op(
        media.frame_metadata, property_name=Field(choice(*media.FRAME_PROPERTIES))
    ),
    "ConvertImageToJPEG": _op(media.image_to_jpeg, compression_level=Field(_quality, 95)),
    "ConvertImageToBase64": _op(media.image_to_base64),
    "ConvertDictionaryToJSON": _op(media.dictionary_to_json),
    "ClassificationPropertyExtract": _op(
        media.classification_extract,
        property_name=Field(choice(*media.CLASSIFICATION_PROPERTIES)),
    ),
    "ClassificationFilter": _op(_classification_filter, filter_operation=_STATEMENT),
    "ExtractClassificationPredictionProperty": _op(
        media.class_prediction_property,
        property_name=Field(choice(*media.CLASS_PREDICTION_PROPERTIES)),
    ),
}
OPERATION_NAMES: tuple[str, ...] = tuple(OPERATIONS)
"""Every operation type the compiler knows, in Roboflow's documentation's groups."""
