"""Parameter defaults checked against their kinds, before any block is set up.

A run checks the values it is given (``engine/inputs.py``); a default is written in the
document, so a wrong one is a compile error, found before models load.
"""

from __future__ import annotations

from visionflow.definition import Definition
from visionflow.errors import DefinitionError
from visionflow.kinds import shown_value, value_fits


def check_parameter_defaults(definition: Definition) -> None:
    for item in definition.inputs:
        if item.is_batch_oriented or "default_value" not in item.model_fields_set:
            continue
        if not value_fits(item.kinds, item.default_value):
            raise DefinitionError(
                f"the default_value of parameter '{item.name}' is "
                f"{shown_value(item.default_value)}, which is not "
                f"{' or '.join(sorted(item.kinds))}",
                place=f"inputs '{item.name}' field 'default_value'",
            )
