"""Expression text -> Python AST -> checked against a whitelist -> a tree of closures.

The text is parsed with ``ast.parse`` and never given to ``eval``/``exec``/``compile``. Each
allowed node becomes a closure ``run(env) -> value``; anything else (attribute access,
lambdas, f-strings...) is refused with the column it starts at. Compiling happens once per
(text, variables, place); evaluating is a walk over plain closures.
"""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import numbers
import operator
from collections.abc import Callable, Mapping
from typing import Any

from visionflow.errors import ExpressionError, ExpressionEvaluationError
from visionflow.expressions.functions import FUNCTIONS, KEYWORD_ARGUMENTS

MAX_LENGTH = 2_000  # characters of expression text
MAX_DEPTH = 100  # nesting of the syntax tree
MAX_EXPONENT = 1_000
MAX_INT_BITS = 100_000  # largest int ``**`` may produce
MAX_REPEAT = 1_000_000  # longest string or list ``*`` may produce

Run = Callable[[Mapping[str, Any]], Any]

_ALLOWED = (
    "expressions may use literals, variables, + - * / // % **, comparisons, and/or/not, "
    "`x if c else y`, x[0] / x['key'] / x[1:3], `[e for v in xs if c]` "
    "and calls of the functions by name, e.g. count(predictions) > 0"
)

# --- guarded operators ------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)


def _multiply(left, right):
    if isinstance(left, _SEQUENCES) and isinstance(right, int):
        _check_repeat(len(left), right)
    elif isinstance(right, _SEQUENCES) and isinstance(left, int):
        _check_repeat(len(right), left)
    return left * right


def _check_repeat(length: int, times: int) -> None:
    if length * times > MAX_REPEAT:
        raise ValueError(f"'*' would make {length * times:,} items; the limit is {MAX_REPEAT:,}")


def _power(base, exponent):
    if isinstance(exponent, numbers.Real) and abs(exponent) > MAX_EXPONENT:
        raise ValueError(f"exponent {exponent} is over the limit of {MAX_EXPONENT}")
    too_big = isinstance(base, int) and isinstance(exponent, int)
    if too_big and base.bit_length() * exponent > MAX_INT_BITS:
        raise ValueError(f"the result of ** would have over {MAX_INT_BITS:,} bits")
    return base**exponent


def _modulo(left, right):
    if isinstance(left, str | bytes):
        raise TypeError("formatting strings with % is not supported; join with + and str()")
    return left % right


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _modulo,
    ast.Pow: _power,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
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
    ast.SetComp: "a set comprehension",
    ast.DictComp: "a dict comprehension",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
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
    close = difflib.get_close_matches(name, sorted(candidates), n=3)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


# --- the compiler -----------------------------------------------------------------------


class _Compiler:
    """Visits the AST once, checking each node and returning its closure."""

    def __init__(self, source: str, variables: frozenset[str] | None, place: str | None):
        self.source = source
        self.variables = variables
        self.place = place
        self.names: set[str] = set()
        self.locals: frozenset[str] = frozenset()  # comprehension variables in scope
        self.depth = 0
        self.in_comprehension = False

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
        return self.error(node, f"{what} is not allowed")

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
        if name not in self.locals:
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
        known = self.variables | self.locals
        listing = f"variables: {', '.join(sorted(known)) or 'none'}"
        suggestion = _suggest(name, known)
        return self.error(node, f"unknown name '{name}'", hint=f"{suggestion} {listing}".strip())

    def visit_Attribute(self, node: ast.Attribute) -> Run:
        column = node.end_col_offset - len(node.attr) - 1  # the '.'
        hint = f"call a function instead, e.g. {node.attr}(x)" if node.attr in FUNCTIONS else None
        message = f"attribute access '.{node.attr}' is not allowed"
        raise self.error(node, message, hint=hint or _ALLOWED, column=column)

    # --- operators ---

    def visit_BinOp(self, node: ast.BinOp) -> Run:
        apply = _BINARY.get(type(node.op))
        if apply is None:
            raise self.error(node, f"operator '{_SYMBOLS[type(node.op)]}' is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        return lambda env: apply(left(env), right(env))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Run:
        apply = _UNARY.get(type(node.op))
        if apply is None:
            raise self.error(node, f"operator '{_SYMBOLS[type(node.op)]}' is not allowed")
        operand = self.visit(node.operand)
        return lambda env: apply(operand(env))

    def visit_BoolOp(self, node: ast.BoolOp) -> Run:
        parts = [self.visit(value) for value in node.values]
        if isinstance(node.op, ast.And):
            if len(parts) == 2:
                first, second = parts
                return lambda env: first(env) and second(env)
            return lambda env: _all_or_first_false(parts, env)
        if len(parts) == 2:
            first, second = parts
            return lambda env: first(env) or second(env)
        return lambda env: _any_or_last_false(parts, env)

    def visit_Compare(self, node: ast.Compare) -> Run:
        operands = [node.left, *node.comparators]
        for position, op in enumerate(node.ops):
            pair = operands[position : position + 2]
            is_none = any(isinstance(o, ast.Constant) and o.value is None for o in pair)
            if isinstance(op, ast.Is | ast.IsNot) and not is_none:
                raise self.error(pair[0], "'is' is only allowed with None", hint="compare with ==")
        applies = [_COMPARE[type(op)] for op in node.ops]
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

    # --- comprehensions ---

    def visit_ListComp(self, node: ast.ListComp | ast.GeneratorExp) -> Run:
        if self.in_comprehension:
            raise self.error(node, "comprehensions cannot be nested")
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise self.error(node, "a comprehension may have exactly one 'for'")
        generator = node.generators[0]
        targets = self.targets(generator.target)
        iterable = self.visit(generator.iter)  # runs in the outer scope, as in Python
        outer = self.locals
        self.in_comprehension, self.locals = True, outer | frozenset(targets)
        try:
            conditions = [self.visit(condition) for condition in generator.ifs]
            element = self.visit(node.elt)
        finally:
            self.in_comprehension, self.locals = False, outer

        def run(env):
            scope = dict(env)
            results = []
            for item in iterable(env):
                if len(targets) == 1:
                    scope[targets[0]] = item
                else:
                    scope.update(zip(targets, item, strict=True))
                if all(condition(scope) for condition in conditions):
                    results.append(element(scope))
            return results

        return run

    visit_GeneratorExp = visit_ListComp

    def targets(self, node: ast.expr) -> list[str]:
        names = node.elts if isinstance(node, ast.Tuple | ast.List) else [node]
        if not all(isinstance(name, ast.Name) for name in names):
            raise self.error(node, "a comprehension variable must be a name, e.g. `for c in xs`")
        for name in names:
            self.check_name(name, name.id)
        return [name.id for name in names]


def _all_or_first_false(parts: list[Run], env) -> Any:
    for part in parts[:-1]:
        value = part(env)
        if not value:
            return value
    return parts[-1](env)


def _any_or_last_false(parts: list[Run], env) -> Any:
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
