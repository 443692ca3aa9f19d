"""Roboflow Workflows' operations language, compiled once into closures (no ``eval``).

Operation chains (``operations`` of PropertyDefinition, DetectionsTransformation...) and
statements (``condition_statement`` + ``evaluation_parameters``, DetectionsFilter's
``filter_operation``) as Roboflow documents write them:

>>> upper = compile_operations([{"type": "StringToUpperCase"}])
>>> upper("car")
'CAR'

Compile mistakes are ``ExpressionError`` (code ``invalid_expression``) placed at the
operation (``operations[2]``) with the valid names in the hint; a value of the wrong type
when run is ``ExpressionEvaluationError`` naming the operation. See
docs/guide/roboflow-operations.md.
"""

from visionflow.expressions.roboflow.comparators import BINARY_NAMES, UNARY_NAMES
from visionflow.expressions.roboflow.operations import (
    OPERATION_NAMES,
    OperationChain,
    compile_operations,
)
from visionflow.expressions.roboflow.statements import compile_statement

__all__ = [
    "BINARY_NAMES",
    "OPERATION_NAMES",
    "UNARY_NAMES",
    "OperationChain",
    "compile_operations",
    "compile_statement",
]
