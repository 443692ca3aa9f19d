"""Declared inputs checked before any block is set up: their kinds exist, and parameter
defaults are of them.

A run checks the values it is given (``engine/inputs.py``); kinds and defaults are written
in the document, so a wrong one is a compile error, found before models load. Kinds are
checked here, not when the document is read, because plugins register theirs on loading.
"""

from __future__ import annotations

from visionflow.definition import Definition
from visionflow.errors import DefinitionError
from visionflow.kinds import WILDCARD, all_kinds, is_known, shown_value, value_fits
from visionflow.suggestions import close_matches


def check_input_kinds(definition: Definition) -> None:
    for item in definition.inputs:
        for kind in item.kind:
            if kind == WILDCARD or is_known(kind):
                continue
            similar = close_matches(kind, [known.name for known in all_kinds()])
            raise DefinitionError(
                f"input '{item.name}' names the unknown kind {shown_value(kind)}",
                place=f"inputs '{item.name}' field 'kind'",
                hint=(f"did you mean '{similar[0]}'? " if similar else "")
                + "`visionflow kinds` lists the kinds",
            )


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
