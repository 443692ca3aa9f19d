"""Expression text -> Python AST -> checked against a whitelist -> a tree of closures.

The text is parsed with ``ast.parse`` and never given to ``eval``/``exec``/``compile``. Each
allowed node becomes a closure ``run(env) -> value``; anything else (attribute access,
lambdas, f-strings...) is refused with the column it starts at. Compiling happens once per
(text, variables, place); evaluating is a walk over plain closures.
"""

from __future__ import annotations

import ast
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.functions import (
    BINARY_OPERATORS,
    COMPARISONS,
    FUNCTIONS,
    KEYWORD_ARGUMENTS,
    UNARY_OPERATORS,
)
from visionflow.suggestions import close_matches

MAX_LENGTH = 2_000  # characters of expression text
MAX_DEPTH = 100  # nesting of the syntax tree
_LISTED = 20  # variables named in a hint: a step may have thousands, of 256 characters each

Run = Callable[[Mapping[str, Any]], Any]

_ALLOWED = (
    "expressions may use literals, variables, + - * / // % **, comparisons, and/or/not, "
    "`x if c else y`, x[0] / x['key'] / x[1:3] and calls of the functions by name, "
    "e.g. count(predictions) > 0"
)

_SYMBOLS = {
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
}
_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Lambda: "a lambda",
    ast.NamedExpr: "assignment with ':='",
    ast.JoinedStr: "an f-string",
    ast.Starred: "unpacking with '*'",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
# A comprehension multiplies the work of its body by the length of its input (a million
# items each building a million-item list), so the language has none; functions cover the
# usual needs.
_COMPREHENSION_HINT = (
    "use a function instead, e.g. count_of(class_names(p), 'car') or "
    "max(confidences(p), default=0) > 0.5; to keep some detections, use a filtering step"
)
_CONSTANTS = (int, float, str, bool, type(None))

# --- public -----------------------------------------------------------------------------


class CompiledExpression:
    """A checked expression, ready to evaluate many times.

    >>> compile_expression("a > 0.5 and b == 'car'").evaluate({"a": 0.7, "b": "car"})
    True
    """

    __slots__ = ("_place", "_run", "names", "text")

    def __init__(self, text: str, names: frozenset[str], run: Run, place: str | None):
        self.text = text
        self.names = names  # the variables it reads
        self._run = run
        self._place = place

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """The value for ``variables``; ExpressionEvaluationError when it cannot be computed."""
        try:
            return self._run(variables)
        except ExpressionEvaluationError:
            raise
        except Exception as error:
            raise ExpressionEvaluationError(
                f"`{self.text}` failed: {type(error).__name__}: {error}",
                place=self._place,
                hint=_evaluation_hint(error),
            ) from error

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"


def compile_expression(
    text: str, *, variables: set[str] | None = None, place: str | None = None
) -> CompiledExpression:
    """Check ``text`` and compile it; ExpressionError names what is wrong and where.

    With ``variables``, a name that is neither a variable nor a function is an error.

    >>> compile_expression("count(predictions) >= 2", variables={"predictions"}).names
    frozenset({'predictions'})
    """
    known = None if variables is None else frozenset(variables)
    return _compile(text, known, place)


@functools.lru_cache(maxsize=4096)
def _compile(text: str, variables: frozenset[str] | None, place: str | None):
    source = _check_text(text, place)
    try:
        tree = ast.parse(source + "\n", mode="eval")
    except SyntaxError as error:
        raise _syntax_error(source, error, place) from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError(f"`{source}` cannot be read: {error}", place=place) from None
    compiler = _Compiler(source, variables, place)
    run = compiler.visit(tree.body)
    return CompiledExpression(source, frozenset(compiler.names), run, place)


def _check_text(text, place) -> str:
    if not isinstance(text, str):
        raise ExpressionError(
            f"an expression must be text, found {type(text).__name__}", place=place
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text):,} characters long; the limit is {MAX_LENGTH:,}",
            place=place,
            hint="split the work over several steps",
        )
    if not text.strip():
        raise ExpressionError("the expression is empty", place=place)
    return text.strip()


def _syntax_error(source: str, error: SyntaxError, place) -> ExpressionError:
    line = (error.text or source).rstrip("\n")
    column = error.offset if error.offset and error.offset > 0 else len(line) + 1
    where = f"line {error.lineno}, column {column}" if "\n" in source else f"column {column}"
    return ExpressionError(
        f"`{source}` does not parse: {error.msg} at {where}\n    {line}\n    {' ' * (column - 1)}^",
        place=place,
        hint="expressions use Python syntax: check brackets and quotes, compare with ==",
    )


def _evaluation_hint(error: Exception) -> str | None:
    if isinstance(error, TypeError) and "NoneType" in str(error):
        return "a value was None; guard it, e.g. `x is not None and x > 3`"
    if isinstance(error, ZeroDivisionError):
        return "guard the divisor, e.g. `a / b if b else 0`"
    if isinstance(error, KeyError):
        return "check the key first, e.g. `'key' in x and x['key'] == 1`"
    if isinstance(error, IndexError):
        return "check the length first, e.g. `len(x) > 0 and x[0] == 1`"
    return None


def _suggest(name: str, candidates) -> str:
    close = close_matches(name, sorted(candidates), n=3)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# --- the compiler -----------------------------------------------------------------------


class _Compiler:
    """Visits the AST once, checking each node and returning its closure."""

    def __init__(self, source: str, variables: frozenset[str] | None, place: str | None):
        self.source = source
        self.variables = variables
        self.place = place
        self.names: set[str] = set()
        self.depth = 0

    def visit(self, node: ast.AST) -> Run:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.error(node, f"the expression is nested over {MAX_DEPTH} levels deep")
            visitor = getattr(self, f"visit_{type(node).__name__}", None)
            if visitor is None:
                raise self.refuse(node)
            return visitor(node)
        finally:
            self.depth -= 1

    # --- errors ---

    def error(self, node, message: str, hint: str | None = _ALLOWED, column=None):
        line = getattr(node, "lineno", 1)
        text = self.source.splitlines()[line - 1] if self.source else ""
        offset = getattr(node, "col_offset", 0) if column is None else column
        column = len(text.encode()[:offset].decode(errors="ignore")) + 1  # bytes -> characters
        where = f"line {line}, column {column}" if "\n" in self.source else f"column {column}"
        return ExpressionError(
            f"in `{self.source}`, {where}: {message}", place=self.place, hint=hint
        )

    def refuse(self, node) -> ExpressionError:
        what = _REFUSED.get(type(node)) or _SYMBOLS.get(type(node)) or type(node).__name__
        hint = _COMPREHENSION_HINT if what == "a comprehension" else _ALLOWED
        return self.error(node, f"{what} is not allowed", hint=hint)

    # --- leaves ---

    def visit_Constant(self, node: ast.Constant) -> Run:
        value = node.value
        if not isinstance(value, _CONSTANTS):
            kind = type(value).__name__
            raise self.error(node, f"a constant of type {kind} is not allowed")
        return lambda env: value

    def visit_Name(self, node: ast.Name) -> Run:
        name = node.id
        self.check_name(node, name)
        if self.variables is not None and name not in self.variables:
            raise self.unknown_name(node, name)
        self.names.add(name)
        source, place = self.source, self.place

        def load(env):
            try:
                return env[name]
            except KeyError:
                raise ExpressionEvaluationError(
                    f"`{source}` uses the variable '{name}', which was not given",
                    place=place,
                    hint=f"given: {', '.join(sorted(env)) or 'nothing'}",
                ) from None

        return load

    def check_name(self, node, name: str) -> None:
        if name.startswith("_"):
            raise self.error(node, f"names starting with '_' are not allowed ('{name}')")

    def unknown_name(self, node, name: str) -> ExpressionError:
        if name in FUNCTIONS:
            return self.error(node, f"'{name}' is a function", hint=f"call it, e.g. {name}(x)")
        names = sorted(self.variables)
        shown = ", ".join(names[:_LISTED]) + (
            f" (and {len(names) - _LISTED:,} more)" if len(names) > _LISTED else ""
        )
        listing = f"variables: {shown or 'none'}"
        suggestion = _suggest(name, self.variables)
        return self.error(node, f"unknown name '{name}'", hint=f"{suggestion} {listing}".strip())

    def visit_Attribute(self, node: ast.Attribute) -> Run:
        column = node.end_col_offset - len(node.attr) - 1  # the '.'
        hint = f"call a function instead, e.g. {node.attr}(x)" if node.attr in FUNCTIONS else None
        message = f"attribute access '.{node.attr}' is not allowed"
        raise self.error(node, message, hint=hint or _ALLOWED, column=column)

    # --- operators ---

    def visit_BinOp(self, node: ast.BinOp) -> Run:
        apply = BINARY_OPERATORS.get(type(node.op))
        if apply is None:
            raise self.error(node, f"operator '{_SYMBOLS.get(type(node.op), '?')}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        return lambda env: apply(left(env), right(env))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Run:
        apply = UNARY_OPERATORS.get(type(node.op))
        if apply is None:
            raise self.error(node, f"operator '{_SYMBOLS.get(type(node.op), '?')}' is not allowed")
        operand = self.visit(node.operand)
        return lambda env: apply(operand(env))

    def visit_BoolOp(self, node: ast.BoolOp) -> Run:
        parts = [self.visit(value) for value in node.values]
        if isinstance(node.op, ast.And):
            if len(parts) == 2:
                first, second = parts
                return lambda env: first(env) and second(env)
            return lambda env: _and(parts, env)
        if len(parts) == 2:
            first, second = parts
            return lambda env: first(env) or second(env)
        return lambda env: _or(parts, env)

    def visit_Compare(self, node: ast.Compare) -> Run:
        operands = [node.left, *node.comparators]
        for position, op in enumerate(node.ops):
            pair = operands[position : position + 2]
            is_none = any(isinstance(o, ast.Constant) and o.value is None for o in pair)
            if isinstance(op, ast.Is | ast.IsNot) and not is_none:
                raise self.error(pair[0], "'is' is only allowed with None", hint="compare with ==")
        applies = [COMPARISONS[type(op)] for op in node.ops]
        runs = [self.visit(operand) for operand in operands]
        if len(applies) == 1:
            apply, (left, right) = applies[0], runs
            if isinstance(node.comparators[0], ast.Constant):
                value = node.comparators[0].value
                return lambda env: apply(left(env), value)
            return lambda env: apply(left(env), right(env))
        return lambda env: _chain(runs, applies, env)

    def visit_IfExp(self, node: ast.IfExp) -> Run:
        test, body, orelse = self.visit(node.test), self.visit(node.body), self.visit(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)

    # --- containers ---

    def visit_List(self, node: ast.List) -> Run:
        items = [self.visit(item) for item in node.elts]
        return lambda env: [item(env) for item in items]

    def visit_Tuple(self, node: ast.Tuple) -> Run:
        items = [self.visit(item) for item in node.elts]
        return lambda env: tuple(item(env) for item in items)

    def visit_Set(self, node: ast.Set) -> Run:
        items = [self.visit(item) for item in node.elts]
        return lambda env: {item(env) for item in items}

    def visit_Dict(self, node: ast.Dict) -> Run:
        if any(key is None for key in node.keys):
            raise self.error(node, "unpacking with '**' is not allowed")
        pairs = [
            (self.visit(k), self.visit(v)) for k, v in zip(node.keys, node.values, strict=True)
        ]
        return lambda env: {key(env): value(env) for key, value in pairs}

    def visit_Subscript(self, node: ast.Subscript) -> Run:
        value, index = self.visit(node.value), self.visit(node.slice)
        if isinstance(node.slice, ast.Constant):
            constant = node.slice.value
            return lambda env: value(env)[constant]
        return lambda env: value(env)[index(env)]

    def visit_Slice(self, node: ast.Slice) -> Run:
        bounds = [
            self.visit(b) if b else (lambda env: None) for b in (node.lower, node.upper, node.step)
        ]
        lower, upper, step = bounds
        return lambda env: slice(lower(env), upper(env), step(env))

    # --- calls ---

    def visit_Call(self, node: ast.Call) -> Run:
        if isinstance(node.func, ast.Attribute):
            self.visit(node.func)  # refused, with a hint to call a function instead
        if not isinstance(node.func, ast.Name):
            message = (
                f"only functions can be called, by name; `{ast.unparse(node.func)}` is not one"
            )
            raise self.error(node, message)
        name = node.func.id
        self.check_name(node.func, name)
        if name not in FUNCTIONS:
            hint = f"{_suggest(name, FUNCTIONS)} functions: {', '.join(sorted(FUNCTIONS))}"
            raise self.error(node, f"unknown function '{name}'", hint=hint.strip())
        function = FUNCTIONS[name]
        self.check_keywords(node, name)
        args = [self.visit(arg) for arg in node.args]
        keywords = [(k.arg, self.visit(k.value)) for k in node.keywords]
        self.check_arity(node, name, function)
        if keywords:
            return lambda env: function(
                *[arg(env) for arg in args], **{key: run(env) for key, run in keywords}
            )
        if len(args) == 1:
            (only,) = args
            return lambda env: function(only(env))
        return lambda env: function(*[arg(env) for arg in args])

    def check_keywords(self, node: ast.Call, name: str) -> None:
        allowed = KEYWORD_ARGUMENTS.get(name, frozenset())
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.error(keyword, "unpacking with '**' is not allowed")
            if keyword.arg not in allowed:
                accepts = ", ".join(sorted(allowed)) or "none"
                message = f"{name}() takes no keyword argument '{keyword.arg}'"
                raise self.error(keyword, message, hint=f"keyword arguments of {name}: {accepts}")

    def check_arity(self, node: ast.Call, name: str, function) -> None:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):  # some builtins have none; they raise when called
            return
        try:
            signature.bind(*node.args, **{k.arg: None for k in node.keywords})
        except TypeError as error:
            raise self.error(node, f"{name}(): {error}", hint=f"{name}{signature}") from None


def _and(parts: list[Run], env) -> Any:
    """``a and b and c``: the first falsy value, else the last value (as in Python)."""
    for part in parts[:-1]:
        value = part(env)
        if not value:
            return value
    return parts[-1](env)


def _or(parts: list[Run], env) -> Any:
    """``a or b or c``: the first truthy value, else the last value (as in Python)."""
    for part in parts[:-1]:
        value = part(env)
        if value:
            return value
    return parts[-1](env)


def _chain(runs: list[Run], applies: list, env) -> Any:
    left = runs[0](env)
    result = True
    for apply, run in zip(applies, runs[1:], strict=True):
        right = run(env)
        result = apply(left, right)
        if not result:
            return result
        left = right
    return result
