"""Roboflow's ``switch`` of the Expression block (a CasesDefinition), compiled once.

>>> switch = compile_switch({
...     "type": "CasesDefinition",
...     "cases": [{
...         "type": "CaseDefinition",
...         "condition": {"type": "StatementGroup", "statements": [{
...             "type": "BinaryStatement",
...             "left_operand": {"type": "DynamicOperand", "operand_name": "n"},
...             "comparator": {"type": "(Number) >"},
...             "right_operand": {"type": "StaticOperand", "value": 2},
...         }]},
...         "result": {"type": "StaticCaseResult", "value": "many"},
...     }],
...     "default": {"type": "StaticCaseResult", "value": "few"},
... }, names={"n"})
>>> switch({"n": 3}), switch({"n": 1})
('many', 'few')
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from visionflow.errors import ExpressionError
from visionflow.expressions.roboflow import compile_operations, compile_statement
from visionflow.expressions.roboflow.fields import (
    Context,
    Field,
    anything,
    definition_type,
    hint_names,
    read_fields,
    text,
)

Variables = Mapping[str, Any]
Result = Callable[[Variables], Any]
_STATIC = {"value": Field(anything, describe="the value given")}
_DYNAMIC = {
    "parameter_name": Field(text, describe="a name in data"),
    "operations": Field(anything, None),
}
_CASE = {
    "condition": Field(anything, describe="a StatementGroup"),
    "result": Field(anything, describe="a StaticCaseResult or DynamicCaseResult"),
}
_CASES = {
    "cases": Field(anything, describe="a list of CaseDefinition"),
    "default": Field(anything, describe="a StaticCaseResult or DynamicCaseResult"),
}


def compile_switch(definition: object, names: Collection[str], place: str = "switch"):
    """``switch(variables) -> value``: the result of the first case whose condition holds
    for the variables (``data`` after ``data_operations``), else the default's."""
    context = Context(place, frozenset(names))
    definition_type(definition, context, "switch", ("CasesDefinition",))
    fields = read_fields(definition, _CASES, context, "CasesDefinition")
    cases = fields["cases"]
    if not isinstance(cases, list):
        raise ExpressionError("cases must be a list", place=f"{place}.cases")
    compiled = [_case(case, names, context.at(f".cases[{i}]")) for i, case in enumerate(cases)]
    default = _result(fields["default"], names, context.at(".default"))

    def switch(variables: Variables) -> Any:
        for holds, result in compiled:
            if holds(variables):
                return result(variables)
        return default(variables)

    return switch


def _case(definition: object, names: Collection[str], context: Context):
    definition_type(definition, context, "case", ("CaseDefinition",))
    fields = read_fields(definition, _CASE, context, "CaseDefinition")
    condition = compile_statement(fields["condition"], f"{context.place}.condition", names)
    return condition, _result(fields["result"], names, context.at(".result"))


def _result(definition: object, names: Collection[str], context: Context) -> Result:
    kind = definition_type(
        definition, context, "case result", ("StaticCaseResult", "DynamicCaseResult")
    )
    if kind == "StaticCaseResult":
        value = read_fields(definition, _STATIC, context, kind)["value"]
        return lambda variables: value
    fields = read_fields(definition, _DYNAMIC, context, kind)
    name = fields["parameter_name"]
    if name not in names:
        raise ExpressionError(
            f"no variable {name!r} in data",
            place=f"{context.place}.parameter_name",
            hint=hint_names("names", sorted(names) or ["(none)"], name),
        )
    if not fields["operations"]:
        return lambda variables: variables[name]
    chain = compile_operations(fields["operations"], f"{context.place}.operations", names)
    return lambda variables: chain(variables[name], variables)


def compile_data_operations(
    data_operations: Mapping[str, Any], names: Collection[str]
) -> dict[str, Callable[[Any], Any]]:
    """One chain per name of ``data``; as in Roboflow, run without evaluation parameters."""
    chains = {}
    for name, operations in data_operations.items():
        if name not in names:
            raise ExpressionError(
                f"data_operations names {name!r}, which is not in data",
                place="field 'data_operations'",
                hint=hint_names("names", sorted(names) or ["(none)"], name),
            )
        chains[name] = compile_operations(operations, f"data_operations.{name}", ())
    return chains
