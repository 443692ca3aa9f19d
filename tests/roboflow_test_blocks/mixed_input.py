"""Roboflow's ``mixed_input_characteristic_plugin``: one block per way a manifest may
declare its parameters (scalars, batches, both; plain and compound). Each answers 0.4."""

from __future__ import annotations

from typing import Any, Literal

from visionflow import Batch, Block, Output, Selector

OUTPUTS = [Output("float_value", kinds=["float_zero_to_one"])]
VALUE = {"float_value": 0.4}


def _answer(size: int | None) -> dict | list[dict]:
    """One answer for a scalar call, one per element for a batch."""
    return dict(VALUE) if size is None else [dict(VALUE) for _ in range(size)]


def _first_batch_size(values: dict[str, Any]) -> int | None:
    return next((len(value) for value in values.values() if isinstance(value, Batch)), None)


class NonBatchInputBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["NonBatchInputBlock"]
        non_batch_parameter: Selector() | Any  # WorkflowParameterSelector() | Any

    outputs = OUTPUTS

    def run(self, non_batch_parameter: Any) -> dict:
        return _answer(None)


class MixedInputWithoutBatchesBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["MixedInputWithoutBatchesBlock"]
        mixed_parameter: Selector() | Any

    outputs = OUTPUTS

    def run(self, mixed_parameter: Any) -> dict:
        return _answer(None)


class MixedInputWithBatchesBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["MixedInputWithBatchesBlock"]
        mixed_parameter: Selector() | Any

    outputs = OUTPUTS
    # get_parameters_accepting_batches_and_scalars() == ["mixed_parameter"]: a SIMD block
    # whose field is left out of batch_fields (a Batch for batches, else the plain value)
    accepts_batches = True

    def run(self, mixed_parameter: Any) -> dict | list[dict]:
        return _answer(len(mixed_parameter) if isinstance(mixed_parameter, Batch) else None)


class BatchInputBlockProcessingBatches(Block):
    class Manifest(Block.Manifest):
        type: Literal["BatchInputBlockProcessingBatches"]
        batch_parameter: Selector()

    outputs = OUTPUTS
    accepts_batches = True  # get_parameters_accepting_batches() == ["batch_parameter"]
    batch_fields = frozenset({"batch_parameter"})

    def run(self, batch_parameter: Batch) -> list[dict]:
        if not isinstance(batch_parameter, Batch):
            raise ValueError("batch_parameter must arrive as a Batch")
        return _answer(len(batch_parameter))


class BatchInputBlockNotProcessingBatches(Block):
    class Manifest(Block.Manifest):
        type: Literal["BatchInputBlockNotProcessingBatches"]
        batch_parameter: Selector()

    outputs = OUTPUTS

    def run(self, batch_parameter: Any) -> dict:
        return _answer(None)


class CompoundNonBatchInputBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["CompoundNonBatchInputBlock"]
        compound_parameter: dict[str, Selector() | Any]

    outputs = OUTPUTS

    def run(self, compound_parameter: dict) -> dict:
        return _answer(None)


class CompoundMixedInputBlockManifestBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["CompoundMixedInputBlockManifestBlock"]
        compound_parameter: dict[str, Selector() | Any]

    outputs = OUTPUTS
    accepts_batches = True  # accepting batches and scalars: compound_parameter

    def run(self, compound_parameter: dict) -> dict | list[dict]:
        return _answer(_first_batch_size(compound_parameter))


class CompoundStrictBatchBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["CompoundStrictBatchBlock"]
        compound_parameter: dict[str, Selector()]

    outputs = OUTPUTS
    accepts_batches = True  # accepting batches: compound_parameter (a dict of Batch)
    batch_fields = frozenset({"compound_parameter"})

    def run(self, compound_parameter: dict[str, Batch]) -> list[dict]:
        size = _first_batch_size(compound_parameter)
        if size is None:
            raise ValueError("compound_parameter must hold a Batch")
        return _answer(size)


class CompoundNonStrictBatchBlock(Block):
    class Manifest(Block.Manifest):
        type: Literal["CompoundNonStrictBatchBlock"]
        compound_parameter: dict[str, Selector()]

    outputs = OUTPUTS

    def run(self, compound_parameter: dict) -> dict:
        return _answer(None)


BLOCKS: list[type[Block]] = [
    NonBatchInputBlock,
    MixedInputWithoutBatchesBlock,
    MixedInputWithBatchesBlock,
    BatchInputBlockProcessingBatches,
    BatchInputBlockNotProcessingBatches,
    CompoundNonBatchInputBlock,
    CompoundMixedInputBlockManifestBlock,
    CompoundStrictBatchBlock,
    CompoundNonStrictBatchBlock,
]
