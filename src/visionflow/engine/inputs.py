"""Runtime inputs: check the values given to ``run`` and lay them out as batches.

Checked where they enter, so no step sees them wrong: parameters and each element of a
batch against their kinds (None, NaN, out of range), images loaded under the workflow's
``ImagePolicy`` (sources, pixel limit, dtypes, empty images). Parameter defaults are
checked by the compiler (``compiler/inputs.py``); a batch's default, as it is laid out.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from visionflow.compiler.dimensions import input_lineage
from visionflow.data.image import load_image
from visionflow.data.sources import LOCAL, ImagePolicy
from visionflow.data.video_metadata import read_video_metadata
from visionflow.definition import InputDefinition
from visionflow.engine.state import Index, RunState
from visionflow.errors import RuntimeInputError
from visionflow.kinds import DETECTION_KINDS as DETECTIONS
from visionflow.kinds import canonical_kind, shown_value, value_fits, values_checked
from visionflow.serialization import deserialize_classification, deserialize_detections

ROOT_LINEAGE = input_lineage(1)
DETECTION_KINDS = frozenset(DETECTIONS)
CLASSIFICATION = "classification_prediction"
_VIDEO_METADATA = frozenset(["video_metadata"])
IMAGE_KINDS = frozenset({"image"})


class InputLoader:
    """Checks the values given to ``run`` against the declared inputs; lays them out."""

    def __init__(self, declared: list[InputDefinition], policy: ImagePolicy = LOCAL):
        self.names = frozenset(item.name for item in declared)
        self.batch_inputs = [item for item in declared if item.is_batch_oriented]
        self.parameters = [item for item in declared if not item.is_batch_oriented]
        self.policy = policy
        # every batch input one level deep: a run given one value for each (the common
        # call, one image) is laid out directly, without the general batch bookkeeping
        self.flat = all(item.dimensionality == 1 for item in self.batch_inputs)
        self._first_places = {item.name: f"inputs '{item.name}'[0]" for item in declared}
        self._batch_names = [(item.name, item.type == "image") for item in self.batch_inputs]

    def load(self, given: dict[str, Any], state: RunState) -> int:
        """Fill ``state`` with the inputs; returns the batch size (number of result dicts)."""
        self.check_names(given)
        for item in self.parameters:
            state.input_values[item.name] = parameter_value(item, given)
        if self.flat and self.one_element(given):
            return self._load_one(given, state)
        batches = {item.name: _batch_values(item, given) for item in self.batch_inputs}
        size = _batch_size(batches)
        state.add_level(ROOT_LINEAGE, {(): [(position,) for position in range(size)]})
        for item in self.batch_inputs:
            values = batches[item.name]
            if len(values) == 1 and size > 1:
                values = values * size  # one value is broadcast to the whole batch
            listed = listed_values(given.get(item.name))
            state.input_values[item.name] = _lay_out(item, values, state, self.policy, listed)
        return size

    def check_names(self, given: dict[str, Any]) -> None:
        """Refuses inputs the workflow does not declare, naming them."""
        if not given.keys() <= self.names:
            unknown = sorted(set(given) - self.names, key=str)
            raise RuntimeInputError(
                f"unknown input(s) {_listed([shown_value(name) for name in unknown])}",
                place="inputs",
                hint=f"this workflow's inputs are: {_listed(sorted(self.names)) or 'none'}",
            )

    def one_element(self, given: dict[str, Any]) -> bool:
        """Whether every batch input is given one value: no list but a list of one (what
        servers and Roboflow's clients send), no stack of images."""
        for name, image in self._batch_names:  # run for every run: kept to type checks
            value = given.get(name)
            if isinstance(value, list | tuple):
                if len(value) != 1 and listed_values(value):
                    return False
            elif image and isinstance(value, np.ndarray) and value.ndim == 4:
                return False
        return True

    def element(self, item: InputDefinition, given: dict[str, Any], place: str) -> Any:
        """A batch input's one value (or default), read and checked as element (0,), where
        ``one_element`` holds (the value is no list and no stack of images)."""
        if item.type == "image" and item.name in given:  # the commonest: straight to it
            return load_image(given[item.name], place=place, policy=self.policy)
        (value,) = _batch_values(item, given)
        return _element(item, value, (0,), self.policy, False, place)

    @staticmethod
    def keeps_detections(item: InputDefinition) -> bool:
        """Whether an element of batch input ``item`` given as ``supervision.Detections`` is
        taken as it is (``_element``'s rules: no image, video metadata or plain kinds)."""
        return (
            item.type != "image"
            and item.kinds not in (_VIDEO_METADATA, IMAGE_KINDS)
            and not values_checked(item.kinds)
        )

    def first_place(self, name: str) -> str:
        """Where an error in the first element of input ``name`` is reported."""
        return self._first_places[name]

    def _load_one(self, given: dict[str, Any], state: RunState) -> int:
        """``load`` for a batch of one: each batch input's value (or default) at (0,), read
        as the general layout reads it (a list's one value as listed: see ``_predictions``)
        without its bookkeeping per batch."""
        state.add_level(ROOT_LINEAGE, {(): [(0,)]})
        for item in self.batch_inputs:
            place = self._first_places[item.name]
            value = given.get(item.name)
            if isinstance(value, list | tuple) and listed_values(value):  # a list of one
                read = _element(item, value[0], (0,), self.policy, True, place)
            else:
                read = self.element(item, given, place)
            state.input_values[item.name] = {(0,): read}
        return 1


def listed_values(value: Any) -> bool:
    """Whether a value given for a batch input is a batch of values: a list or a tuple, but
    not a named tuple (a record such as ``VideoMetadata`` is one value)."""
    return isinstance(value, list) or (isinstance(value, tuple) and not hasattr(value, "_fields"))


def _has_default(item: InputDefinition) -> bool:
    return "default_value" in item.model_fields_set


def _batch_values(item: InputDefinition, given: dict[str, Any]) -> list:
    if item.name not in given:
        if _has_default(item):
            return [item.default_value]
        raise RuntimeInputError(
            f"missing input '{item.name}'",
            place=f"inputs '{item.name}'",
            hint=f"pass {item.name}=... to run()",
        )
    value = given[item.name]
    if isinstance(value, np.ndarray) and item.type == "image" and value.ndim == 4:
        return list(value)
    if listed_values(value):
        if not value:
            raise RuntimeInputError(
                f"input '{item.name}' is an empty batch", place=f"inputs '{item.name}'"
            )
        return list(value)
    return [value]


def parameter_value(item: InputDefinition, given: dict[str, Any]) -> Any:
    """A parameter's value as given (checked against its kinds) or its default."""
    if item.name in given:
        value = given[item.name]
        if not value_fits(item.kinds, value):
            raise RuntimeInputError(
                f"parameter '{item.name}' expects {_kinds_text(item)}, found {shown_value(value)}",
                place=f"inputs '{item.name}'",
            )
        return value
    if _has_default(item):  # checked by the compiler
        return item.default_value
    raise RuntimeInputError(
        f"missing parameter '{item.name}' (it has no default_value)",
        place=f"inputs '{item.name}'",
        hint=f"pass {item.name}=... to run(), or give it a default_value",
    )


def _listed(names: list[str], most: int = 20) -> str:
    """Names for a message: a request may give thousands, the message names a few."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _kinds_text(item: InputDefinition) -> str:
    return " or ".join(sorted(item.kinds))


def _batch_size(batches: dict[str, list]) -> int:
    sizes = {name: len(values) for name, values in batches.items()}
    size = max(sizes.values(), default=1)
    wrong = {name: n for name, n in sizes.items() if n not in (1, size)}
    if wrong:
        described = ", ".join(f"'{name}' has {n}" for name, n in sorted(sizes.items()))
        raise RuntimeInputError(
            f"batch inputs must have the same number of elements: {described}",
            hint="pass equally long lists, or a single value to use it for every element",
        )
    return size


def _lay_out(
    item: InputDefinition, values: list, state: RunState, policy: ImagePolicy, listed: bool
) -> dict[Index, Any]:
    laid_out: dict[Index, Any] = {}
    parents: dict[Index, list] = {(position,): value for position, value in enumerate(values)}
    for level in range(2, item.dimensionality + 1):
        children: dict[Index, list[Index]] = {}
        deeper: dict[Index, list] = {}
        for parent, nested in parents.items():
            if not isinstance(nested, list | tuple):
                raise RuntimeInputError(
                    f"input '{item.name}' has dimensionality {item.dimensionality}: element "
                    f"{parent} must be a list, found {type(nested).__name__}",
                    place=f"inputs '{item.name}'",
                )
            children[parent] = [(*parent, position) for position in range(len(nested))]
            deeper.update(zip(children[parent], nested, strict=True))
        lineage = input_lineage(level)
        if lineage in state.children and state.children[lineage] != children:
            raise RuntimeInputError(
                f"nested input '{item.name}' does not have the same shape as the other "
                f"inputs of dimensionality {level}",
                place=f"inputs '{item.name}'",
            )
        state.add_level(lineage, children)
        parents = deeper
    for index, value in parents.items():
        laid_out[index] = _element(item, value, index, policy, listed)
    return laid_out


def _element(
    item: InputDefinition,
    value: Any,
    index: Index,
    policy: ImagePolicy,
    listed: bool,
    place: str | None = None,
) -> Any:
    if place is None:
        place = f"inputs '{item.name}'{''.join(f'[{position}]' for position in index)}"
    if item.type == "image":
        return load_image(value, place=place, policy=policy)
    if value is None:  # an empty element, whatever the kind (Roboflow's rule)
        return None
    if item.kinds == _VIDEO_METADATA:
        return read_video_metadata(value, place)
    if item.kinds == IMAGE_KINDS:  # Roboflow's batch input of kind image: images, read so
        return load_image(value, place=place, policy=policy)
    if not value_fits(item.kinds, value):  # a batch's elements are held to its kinds too
        raise RuntimeInputError(
            f"input '{item.name}' expects {_kinds_text(item)} elements, found {shown_value(value)}",
            place=place,
        )
    return _predictions(item, value, place, index if listed else ())


@functools.lru_cache(maxsize=256)  # kind sets come from documents: bounded
def _prediction_kinds(declared: frozenset[str]) -> tuple[bool, bool, bool]:
    """(detections?, classification?, nothing else?) of an input's kinds, once per set."""
    kinds = {canonical_kind(kind) for kind in declared}
    only = kinds <= DETECTION_KINDS | {CLASSIFICATION}
    return bool(kinds & DETECTION_KINDS), CLASSIFICATION in kinds, only


def _predictions(item: InputDefinition, value: Any, place: str, position: Index) -> Any:
    """A prediction given as JSON (a run's serialised output, or Roboflow's) read into what
    blocks take (``supervision.Detections``, a checked classification dict), as Roboflow's
    engine reads inputs of these kinds; other values and kinds are left as they are.

    Its parent, when it names none, is named as Roboflow's engine names it: ``dets.[0]``
    (the input and the ``position`` in the list given), ``dets`` (one value for all)."""
    if value is None:  # an empty element, as Roboflow's engine lets it through
        return None
    if type(value).__name__ == "Detections":  # read already (supervision's own type)
        return value
    detections, classification, only_predictions = _prediction_kinds(item.kinds)
    if not (detections or classification) or not (isinstance(value, dict) or only_predictions):
        return value
    # both declared: the form says which ("top" / "predicted_classes": a classification)
    classifies = classification and (
        not detections
        or (isinstance(value, dict) and ("top" in value or "predicted_classes" in value))
    )
    parent_id = item.name + "".join(f".[{p}]" for p in position)
    try:
        if classifies:
            return deserialize_classification(value, parent_id)
        return deserialize_detections(value, parent_id)
    except RuntimeInputError as error:
        if not only_predictions:  # another declared kind (dictionary, *) takes it as it is
            return value
        raise error.at(place) from None
