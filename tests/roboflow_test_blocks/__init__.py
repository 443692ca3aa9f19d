"""Roboflow's test-only workflow blocks, re-created on visionflow's block API.

Roboflow tests its engine with small "stub" plugins (image producers, echoes, blocks
declaring every combination of batch and scalar parameters, flow control). This plugin
re-creates their documented behaviour from Roboflow's manifests, each declaration mapped
onto visionflow's contract, so that Roboflow's published test definitions run here
unchanged. Load it as any plugin (``VISIONFLOW_PLUGINS=roboflow_test_blocks`` with
``tests/`` on the Python path) or pass ``load_blocks()`` to ``Workflow.compile``.

Declarations map as follows (Roboflow -> visionflow):
- ``get_parameters_accepting_batches()`` on a block -> ``accepts_batches = True`` and
  those fields in ``batch_fields``;
- ``get_parameters_accepting_batches_and_scalars()`` -> ``accepts_batches = True``, the
  fields left out of ``batch_fields`` (a Batch when given a batch, else the plain value);
- ``get_parameters_enforcing_auto_batch_casting()`` (non-SIMD, offset -1) -> ``batch_fields``;
- ``accepts_empty_values()`` -> ``accepts_empty``; ``get_output_dimensionality_offset()``
  -> ``output_dimensionality_offset``; ``get_input_dimensionality_offsets()`` ->
  ``input_dimensionality_offsets``; ``get_dimensionality_reference_property()`` naming a
  field one level deeper -> ``dimensionality_reference``;
- ``WorkflowParameterSelector`` -> ``Selector(scalar_only=True)``; flow control
  (``StepSelector``, ``FlowControl(mode=...)``) -> a ``list[StepSelector]`` field and
  ``FlowControl(next_steps=[...])`` (empty: terminate).
"""

from __future__ import annotations

from roboflow_test_blocks import dimensionality, echoes, flow, image_producer, mixed_input
from visionflow import Block


def load_blocks() -> list[type[Block]]:
    return [
        *image_producer.BLOCKS,
        *mixed_input.BLOCKS,
        *echoes.BLOCKS,
        *flow.BLOCKS,
        *dimensionality.BLOCKS,
    ]
