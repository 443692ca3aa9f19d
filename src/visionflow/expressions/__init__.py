"""A small, safe expression language for workflow conditions and computed values.

Python syntax, a whitelist of constructs and functions, compiled once into closures:

>>> compile_expression("count(items) > 1 and items[0] == 'car'").evaluate({"items": ["car", "dog"]})
True

See docs/guide/expressions.md for the language, the functions and the properties.
"""

from visionflow.expressions.functions import FUNCTIONS
from visionflow.expressions.parser import CompiledExpression, compile_expression
from visionflow.expressions.properties import PROPERTIES, extract_property

__all__ = [
    "FUNCTIONS",
    "PROPERTIES",
    "CompiledExpression",
    "compile_expression",
    "extract_property",
]
