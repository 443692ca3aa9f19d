"""Several classifiers' opinions on the same image, merged into one classification."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from visionflow.blocks.api import Block, Output, Selector

CLASSIFICATION_KINDS = ["classification_prediction"]


class ClassificationConsensus(Block):
    """One classification from several classifiers of the same image.

    Classes are matched by name, so models whose labels come in different orders can be
    merged. ``average``: each class's confidence is the (weighted) mean of the
    classifiers' confidences for it (a classifier that lacks the class counts 0).
    ``majority``: each classifier votes (with its weight) for its top class; a class's
    confidence is its share of the votes, ties going to the higher average confidence.
    Empty (masked-out) predictions are skipped; ``sources`` says how many were merged.
    Class ids are those of the first classifier that names the class.
    """

    class Manifest(Block.Manifest):
        type: Literal["visionflow/classification_consensus@v1", "ClassificationConsensus"]
        predictions: list[Selector(kinds=CLASSIFICATION_KINDS)]
        method: Literal["average", "majority"] = "average"
        weights: list[float] | None = None

        @model_validator(mode="after")
        def _one_weight_each(self):
            if self.weights is None:
                return self
            if len(self.weights) != len(self.predictions):
                raise ValueError(
                    f"'weights' has {len(self.weights)} values for "
                    f"{len(self.predictions)} predictions; give one weight per prediction"
                )
            if min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("'weights' must be non-negative with a positive sum")
            return self

    outputs = [Output("predictions", kinds=CLASSIFICATION_KINDS)]
    accepts_empty = True

    def run(
        self, predictions: list[dict | None], method: str, weights: list[float] | None
    ) -> dict[str, Any]:
        weights = weights or [1.0] * len(predictions)
        present = [(p, w) for p, w in zip(predictions, weights, strict=True) if p is not None]
        if not present or sum(w for _, w in present) <= 0:
            return {"predictions": None}
        average = _weighted_average(present)
        if method == "majority":
            scores = _vote_shares(present, average)
            order = sorted(scores, key=lambda name: (-scores[name], -average.get(name, 0.0)))
        else:
            scores = average
            order = sorted(scores, key=lambda name: -scores[name])
        class_ids = _class_ids(p for p, _ in present)
        ranked = [
            {"class": name, "class_id": class_ids[name], "confidence": scores[name]}
            for name in order
        ]
        return {
            "predictions": {
                "top": ranked[0]["class"],
                "confidence": ranked[0]["confidence"],
                "class_id": ranked[0]["class_id"],
                "predictions": ranked,
                "parent_id": present[0][0].get("parent_id"),
                "sources": len(present),
            }
        }


def _confidences(prediction: dict) -> dict[str, float]:
    if "top" not in prediction:
        raise ValueError(
            "ClassificationConsensus merges single-label classifications (with a 'top' class); "
            f"found one with keys {sorted(prediction)}"
        )
    return {p["class"]: float(p["confidence"]) for p in prediction["predictions"]}


def _weighted_average(present: list[tuple[dict, float]]) -> dict[str, float]:
    total = sum(weight for _, weight in present)
    scores: dict[str, float] = {}
    for prediction, weight in present:
        for name, confidence in _confidences(prediction).items():
            scores[name] = scores.get(name, 0.0) + weight * confidence
    return {name: score / total for name, score in scores.items()}


def _vote_shares(present: list[tuple[dict, float]], average: dict[str, float]) -> dict[str, float]:
    total = sum(weight for _, weight in present)
    votes = dict.fromkeys(average, 0.0)
    for prediction, weight in present:
        votes[prediction["top"]] = votes.get(prediction["top"], 0.0) + weight / total
    return votes


def _class_ids(predictions) -> dict[str, int]:
    ids: dict[str, int] = {}
    for prediction in predictions:
        for p in prediction["predictions"]:
            ids.setdefault(p["class"], int(p["class_id"]))
    return ids
