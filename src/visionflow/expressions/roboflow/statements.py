"""Roboflow's statements (``condition_statement``, DetectionsFilter's ``filter_operation``)
compiled to predicates over the evaluation parameters.

>>> is_big = compile_statement({
...     "type": "BinaryStatement",
...     "left_operand": {"type": "DynamicOperand", "operand_name": "n"},
...     "comparator": {"type": "(Number) >="},
...     "right_operand": {"type": "StaticOperand", "value": 3},
... })
>>> is_big({"n": 5})
True
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.roboflow import comparators
from visionflow.expressions.roboflow.fields import (
    Context,
    Field,
    anything,
    boolean,
    choice,
    definition_type,
    hint_names,
    read_fields,
    text,
)
from visionflow.expressions.roboflow.operations import chain

Predicate = Callable[[Mapping[str, Any]], bool]
Operand = Callable[[Mapping[str, Any]], Any]

STATEMENT_TYPES = ("StatementGroup", "BinaryStatement", "UnaryStatement")
OPERAND_TYPES = ("StaticOperand", "DynamicOperand")
DEFAULT_OPERAND = "_"  # the operand a DynamicOperand without operand_name reads


def compile_statement(
    definition: object,
    place: str = "condition_statement",
    parameters: Collection[str] | None = None,
) -> Predicate:
    """Compile a Roboflow statement (a StatementGroup, BinaryStatement or UnaryStatement
    dict) into ``predicate(evaluation_parameters) -> bool``.

    ``parameters``, when given, are the names the evaluation parameters will have: a
    DynamicOperand naming another is a compile error (otherwise it fails when run).
    """
    known = None if parameters is None else frozenset(parameters)
    return statement(definition, Context(place, known))


def statement(definition: object, context: Context) -> Predicate:
    kind = definition_type(definition, context, "statement", STATEMENT_TYPES)
    if kind == "StatementGroup":
        return _group(definition, context)
    if kind == "BinaryStatement":
        return _binary(definition, context)
    return _unary(definition, context)


def _statements(value: object, context: Context) -> list[Predicate]:
    if not isinstance(value, list) or not value:
        raise ExpressionError(
            "statements must be a non-empty list",
            place=context.place,
            hint=hint_names("statement types", STATEMENT_TYPES),
        )
    return [statement(item, context.nested(f"[{index}]")) for index, item in enumerate(value)]


_GROUP = {"statements": Field(_statements), "operator": Field(choice("or", "and"), "or")}


def _group(definition: Mapping, context: Context) -> Predicate:
    fields = read_fields(definition, _GROUP, context, "StatementGroup")
    parts = fields["statements"]
    # Evaluated left to right and stopped once the result is known (a later statement that
    # would fail is not run); Roboflow's engine runs every statement.
    if fields["operator"] == "and":
        return lambda values: all(part(values) for part in parts)
    return lambda values: any(part(values) for part in parts)


def _operations(value: object, context: Context):
    return chain(value, context.nested(""))


_STATIC = {"value": Field(anything), "operations": Field(_operations, None)}
_DYNAMIC = {"operand_name": Field(text, DEFAULT_OPERAND), "operations": Field(_operations, None)}


def _operand(value: object, context: Context) -> Operand:
    kind = definition_type(value, context, "operand", OPERAND_TYPES)
    if kind == "StaticOperand":
        fields = read_fields(value, _STATIC, context, kind)
        constant, operations = fields["value"], fields["operations"]
        if operations is None:
            return lambda values: constant
        return lambda values: operations(constant, values)
    fields = read_fields(value, _DYNAMIC, context, kind)
    name, operations = fields["operand_name"], fields["operations"]
    if context.known is not None and name not in context.known:
        raise ExpressionError(
            f"no evaluation parameter {name!r}",
            place=f"{context.place}.operand_name",
            hint=hint_names("parameters", sorted(context.known) or ["(none)"], name),
        )

    def read(values):
        if name not in values:
            given = ", ".join(sorted(map(str, values))[:20]) or "none"
            raise ExpressionEvaluationError(
                f"no evaluation parameter {name!r}", place=context.place, hint=f"given: {given}"
            )
        return values[name] if operations is None else operations(values[name], values)

    return read


def _comparator(names: tuple[str, ...], kind: str = "comparator"):
    def read(value: object, context: Context) -> str:
        name = definition_type(value, context, kind, names)
        read_fields(value, {}, context, name)
        return name

    return read


_BINARY = {
    "left_operand": Field(_operand),
    "comparator": Field(_comparator(comparators.BINARY_NAMES)),
    "right_operand": Field(_operand),
    "negate": Field(boolean, False),
}
_UNARY = {
    "operand": Field(_operand),
    "operator": Field(_comparator(comparators.UNARY_NAMES, "operator")),
    "negate": Field(boolean, False),
}


def _binary(definition: Mapping, context: Context) -> Predicate:
    fields = read_fields(definition, _BINARY, context, "BinaryStatement")
    left, right, negate = fields["left_operand"], fields["right_operand"], fields["negate"]
    name = fields["comparator"]
    compare = comparators.BINARY[name]

    def evaluate(values) -> bool:
        try:
            result = compare(left(values), right(values))
        except ExpressionEvaluationError as error:
            raise error if error.place else error.at(context.place) from None
        except (TypeError, ValueError) as error:
            raise ExpressionEvaluationError(
                f"{name!r} failed: {error}", place=context.place
            ) from None
        return result != negate

    return evaluate


def _unary(definition: Mapping, context: Context) -> Predicate:
    fields = read_fields(definition, _UNARY, context, "UnaryStatement")
    operand, negate, name = fields["operand"], fields["negate"], fields["operator"]
    check = comparators.UNARY[name]

    def evaluate(values) -> bool:
        try:
            result = check(operand(values))
        except ExpressionEvaluationError as error:
            raise error if error.place else error.at(context.place) from None
        return result != negate

    return evaluate
