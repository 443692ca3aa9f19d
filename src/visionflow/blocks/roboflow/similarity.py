"""Roboflow's math block: the cosine similarity of two embeddings."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from visionflow.blocks.api import Block, Output, Selector


class CosineSimilarity(Block):
    """The cosine of the angle between ``embedding_1`` and ``embedding_2`` (lists or arrays of
    the same length): their dot product over the product of their norms, from -1 to 1."""

    class Manifest(Block.Manifest):
        type: Literal["roboflow_core/cosine_similarity@v1"]
        embedding_1: Selector(kinds=["embedding"])
        embedding_2: Selector(kinds=["embedding"])

    outputs = [Output("similarity", kinds=["float"])]

    def run(self, embedding_1: Any, embedding_2: Any) -> dict[str, Any]:
        first = np.asarray(embedding_1, dtype=float).ravel()
        second = np.asarray(embedding_2, dtype=float).ravel()
        if len(first) != len(second):
            raise ValueError(
                f"the embeddings differ in length: embedding_1 has {len(first)} values, "
                f"embedding_2 {len(second)}"
            )
        # as Roboflow's block: zero vectors give nan, not an error
        with np.errstate(divide="ignore", invalid="ignore"):
            similarity = np.dot(first, second) / np.sqrt(
                np.vdot(first, first) * np.vdot(second, second)
            )
        return {"similarity": float(similarity)}


BLOCKS = [CosineSimilarity]
