"""The classes of a detection output: every label of the models behind it, found or not.

An export lists all of them (not only those a run happened to find), at indices that stay
the same from run to run: a dataset exported today and one exported tomorrow agree.
"""

from __future__ import annotations

from typing import Any

PREDICTION_KINDS = frozenset(
    {
        "object_detection_prediction",
        "instance_segmentation_prediction",
        "keypoint_detection_prediction",
        "classification_prediction",
    }
)
DETECTION_KINDS = PREDICTION_KINDS - {"classification_prediction"}


def output_labels(plan: Any, output: str) -> list[str]:
    """The labels the models behind workflow output ``output`` can give, in model order.

    A model step gives its model's ``labels``; another step the labels of the predictions
    it is fed, and a step fed classifications (a class replacement) only theirs: its boxes
    take the classes of the classification. Empty when no model behind it names its labels.
    """
    source = next((o.source for o in plan.outputs if o.name == output), None)
    if source is None or source.origin != "step":
        return []
    return _step_labels(plan, source.name)


def _step_labels(plan: Any, name: str) -> list[str]:
    step = plan.steps[name]
    spec = getattr(getattr(step.block, "model", None), "spec", None)
    if spec is not None:
        return list(spec.labels or [])
    fed = [
        f.selector.source
        for f in step.fields
        if f.selector is not None
        and f.selector.source.origin == "step"
        and f.selector.source.kinds & PREDICTION_KINDS
    ]
    classifying = [s for s in fed if "classification_prediction" in s.kinds]
    labels: list[str] = []
    for source in classifying or fed:
        labels += [label for label in _step_labels(plan, source.name) if label not in labels]
    return labels


def class_indices(labels: list[str], found: list[dict[str, Any]]) -> dict[str, int]:
    """Class name -> its 0-based index: a label's position among ``labels``, and after them
    (sorted by name) any class found that no label names (e.g. a replacement's fallback).

    Without labels, the detections' own ``class_id`` when each name has one id and each id
    one name (the model's numbering), else positions in name order.
    """
    table = {label: index for index, label in enumerate(labels)}
    pairs = {(class_of(p), p.get("class_id")) for p in found}
    extra = {(name, class_id) for name, class_id in pairs if name not in table}
    names = {name for name, _ in extra}
    ids = {class_id for _, class_id in extra}
    numbered = all(isinstance(i, int) and i >= 0 for i in ids)
    if not table and numbered and len(ids) == len(names) == len(extra):
        return {name: class_id for name, class_id in extra}
    for name in sorted(names):
        table[name] = len(table)
    return table


def class_of(prediction: dict[str, Any]) -> str:
    return prediction.get("class") or "object"
