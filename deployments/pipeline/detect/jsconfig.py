"""Reading JavaScript and TypeScript config files (`next.config.mjs`, `vite.config.ts`,
`nuxt.config.ts`, `astro.config.mjs`, `svelte.config.js`) as code, not as text.

Regular expressions over the raw text see `output: "export"` inside a comment as a setting,
which once made Butler build a Next.js app as a static export. Here a small tokenizer knows
comments, strings, template literals and regex literals, and a lenient evaluator reads the
object the file exports — `export default {…}`, `module.exports = …`, a `defineConfig(…)` or
plugin wrapper call, a `const` it names, an arrow function returning it — into plain Python
values. Anything computed at build time (`process.env.X ? "export" : undefined`) reads as
`UNKNOWN`, so callers can say "computed" instead of guessing. Nothing is ever executed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .jstokens import Token, tokenize

MAX_DEPTH = 40
# Words that continue an expression on the next line, or that need an operand after them.
_CONTINUING_WORDS = frozenset({"as", "satisfies", "instanceof", "in", "of"})
# fmt: off
_OPERATOR_WORDS = frozenset({
    "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case",
    "await", "yield", "as", "satisfies", "async",
})
# fmt: on


class _Unknown:
    """A value only the running config could tell (a variable, a call, a condition)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Call:
    """`adapter({ pages: "build" })`: the callee's name, the module it was imported from."""

    callee: str
    module: str | None
    args: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Evaluating the exported config


class _Reader:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.bindings: dict[str, tuple[int, int]] = {}  # name -> token span of its initializer
        self.imports: dict[str, str] = {}  # local name -> module
        self.assignments: dict[str, list[tuple[str, int, int]]] = {}  # obj -> (key, span)
        self.exported: tuple[int, int] | None = None
        self._scan()

    # -- structure ------------------------------------------------------------------------

    def _is(self, i: int, value: str) -> bool:
        """Whether token i is the punctuation or word `value` (never a string's content)."""
        if i >= len(self.tokens):
            return False
        token = self.tokens[i]
        return token.value == value and token.kind in ("punct", "name")

    def _expression_end(self, i: int) -> int:
        """Index of the `,` `;` or closing bracket that ends the expression starting at i,
        or of the first token of the next statement when a line break ended it (ASI)."""
        depth = 0
        t = self.tokens
        start = i
        while i < len(t):
            token = t[i]
            if token.kind == "punct":
                if token.value in "([{":
                    depth += 1
                elif token.value in ")]}":
                    if depth == 0:
                        return i
                    depth -= 1
                elif token.value in (",", ";") and depth == 0:
                    return i
            elif depth == 0 and i > start and self._starts_statement(i):
                return i
            i += 1
        return i

    def _starts_statement(self, i: int) -> bool:
        """A word or literal on a new line after a complete expression begins a statement."""
        token, previous = self.tokens[i], self.tokens[i - 1]
        if token.line == previous.line or token.kind == "punct":
            return False
        if token.kind == "name" and token.value in _CONTINUING_WORDS:
            return False
        if previous.kind == "punct":
            return previous.value in (")", "]", "}")
        return not (previous.kind == "name" and previous.value in _OPERATOR_WORDS)

    def _scan(self) -> None:
        t = self.tokens
        i = 0
        while i < len(t):
            tok = t[i]
            if tok.kind == "name" and tok.value == "import" and not self._is(i + 1, "("):
                i = self._scan_import(i + 1)
                continue
            if tok.kind == "name" and tok.value in ("const", "let", "var"):
                i = self._scan_declaration(i + 1)
                continue
            if self._is(i, "export") and self._is(i + 1, "default"):
                start = i + 2
                end = self._expression_end(start)
                self.exported = (start, end)
                i = end
                continue
            if (
                (self._is(i, "module") and self._is(i + 1, ".") and self._is(i + 2, "exports"))
                or (self._is(i, "exports") and self._is(i + 1, ".") and self._is(i + 2, "default"))
            ) and self._is(i + 3, "="):
                start = i + 4
                end = self._expression_end(start)
                self.exported = (start, end)
                i = end
                continue
            if (
                tok.kind == "name"
                and self._is(i + 1, ".")
                and i + 2 < len(t)
                and t[i + 2].kind == "name"
                and self._is(i + 3, "=")
                and (i == 0 or not self._is(i - 1, "."))
            ):
                start = i + 4
                end = self._expression_end(start)
                self.assignments.setdefault(tok.value, []).append((t[i + 2].value, start, end))
                i = end
                continue
            i += 1

    def _scan_import(self, i: int) -> int:
        t = self.tokens
        names: list[str] = []
        while i < len(t) and not (t[i].kind == "name" and t[i].value == "from"):
            if t[i].kind == "str":  # `import "side-effect"`
                return i + 1
            if t[i].kind == "name" and t[i].value not in ("type", "as", "*"):
                if self._is(i + 1, "as"):
                    i += 2
                    continue
                names.append(t[i].value)
            if self._is(i, ";"):
                return i + 1
            i += 1
        if i + 1 < len(t) and t[i + 1].kind == "str":
            for name in names:
                self.imports[name] = t[i + 1].value
            return i + 2
        return i + 1

    def _scan_declaration(self, i: int) -> int:
        t = self.tokens
        while i < len(t):
            if t[i].kind != "name":
                return self._expression_end(i) + 1 if i < len(t) else i
            name = t[i].value
            j = i + 1
            if self._is(j, ":"):  # a TypeScript annotation: skip to its `=`
                while j < len(t) and not (t[j].kind == "punct" and t[j].value == "="):
                    if t[j].value in (";", ","):
                        break
                    j += 1
            if not self._is(j, "="):
                return j
            start = j + 1
            end = self._expression_end(start)
            self.bindings.setdefault(name, (start, end))
            if (
                start + 2 < len(t)
                and self._is(start, "require")
                and self._is(start + 1, "(")
                and t[start + 2].kind == "str"
            ):
                self.imports[name] = t[start + 2].value
            if not self._is(end, ","):
                return end
            i = end + 1
        return i

    # -- values ---------------------------------------------------------------------------

    def value(self, start: int, end: int, depth: int = 0) -> Any:
        """The value of the expression in tokens[start:end]."""
        t = self.tokens
        if depth > MAX_DEPTH or start >= end:
            return UNKNOWN
        # TypeScript suffixes and parentheses never change the value.
        while (
            end - start > 2
            and t[end - 2].value in ("as", "satisfies")
            and t[end - 2].kind == "name"
        ):
            end -= 2
        while end - start > 3 and self._is(end - 1, "const") and self._is(end - 2, "as"):
            end -= 2
        if self._is(start, "(") and self._matching(start) == end - 1:
            return self.value(start + 1, end - 1, depth + 1)
        if self._is(start, "await") or self._is(start, "async"):
            return self.value(start + 1, end, depth + 1)
        first = t[start]
        if end - start == 1:
            return self._atom(first, depth)
        if first.kind == "punct" and first.value == "{" and self._matching(start) == end - 1:
            return self._object(start + 1, end - 1, depth)
        if first.kind == "punct" and first.value == "[" and self._matching(start) == end - 1:
            return self._array(start + 1, end - 1, depth)
        arrow = self._arrow_body(start, end)
        if arrow is not None:
            return self._function_result(*arrow, depth)
        if first.kind == "name" and first.value == "function":
            brace = next((k for k in range(start, end) if self._is(k, "{")), None)
            if brace is not None:
                return self._function_result(brace, self._matching(brace) + 1, depth)
            return UNKNOWN
        call = self._call(start, end)
        if call is not None:
            callee, args_start, args_end = call
            args = [self.value(a, b, depth + 1) for a, b in self._items(args_start, args_end)]
            return Call(callee, self.imports.get(callee.split(".")[0]), args)
        return UNKNOWN

    def _atom(self, token: Token, depth: int) -> Any:
        if token.kind == "str":
            return token.value
        if token.kind == "num":
            text = token.value.replace("_", "").rstrip("n")
            try:
                return (
                    int(text, 0)
                    if text.isdigit() or text[:2].lower() in ("0x", "0o", "0b")
                    else float(text)
                )
            except ValueError:
                return UNKNOWN
        if token.kind == "name":
            if token.value in ("true", "false"):
                return token.value == "true"
            if token.value in ("null", "undefined"):
                return None
            return self.binding(token.value, depth)
        return UNKNOWN

    def binding(self, name: str, depth: int) -> Any:
        span = self.bindings.get(name)
        if span is None or depth > MAX_DEPTH:
            return UNKNOWN
        value = self.value(*span, depth + 1)
        if isinstance(value, dict):
            value = dict(value)
            for key, start, end in self.assignments.get(name, []):
                value[key] = self.value(start, end, depth + 1)
        return value

    def _matching(self, i: int) -> int:
        pairs = {"(": ")", "[": "]", "{": "}"}
        opening = self.tokens[i].value
        closing = pairs[opening]
        depth = 0
        for j in range(i, len(self.tokens)):
            token = self.tokens[j]
            if token.kind != "punct":
                continue
            if token.value in pairs:
                depth += 1
            elif token.value in (")", "]", "}"):
                depth -= 1
                if depth == 0:
                    return j if token.value == closing else -1
        return -1

    def _items(self, start: int, end: int) -> list[tuple[int, int]]:
        items = []
        i = start
        while i < end:
            stop = min(self._expression_end(i), end)
            if stop > i:
                items.append((i, stop))
            i = stop + 1
        return items

    def _object(self, start: int, end: int, depth: int) -> dict:
        t = self.tokens
        out: dict[str, Any] = {}
        for a, b in self._items(start, end):
            head = t[a]
            if head.kind == "punct" and head.value == "...":
                spread = self.value(a + 1, b, depth + 1)
                if isinstance(spread, dict):
                    out.update(spread)
                continue
            if (
                head.kind == "name"
                and head.value in ("get", "set", "async")
                and b - a > 2
                and t[a + 1].kind in ("name", "str")
                and self._is(a + 2, "(")
            ):
                continue  # an accessor or async method
            if head.kind in ("name", "str", "num") and b - a == 1:
                out[head.value] = (
                    self.binding(head.value, depth) if head.kind == "name" else UNKNOWN
                )
                continue  # shorthand `{ output }`
            if head.kind in ("name", "str", "num") and self._is(a + 1, ":"):
                out[head.value] = self.value(a + 2, b, depth + 1)
            elif head.kind == "punct" and head.value == "[":
                continue  # a computed key
            elif head.kind in ("name", "str") and self._is(a + 1, "("):
                out[head.value] = UNKNOWN  # a method
        return out

    def _array(self, start: int, end: int, depth: int) -> list:
        return [self.value(a, b, depth + 1) for a, b in self._items(start, end)]

    def _arrow_body(self, start: int, end: int) -> tuple[int, int] | None:
        """(body start, body end) of `(args) => body` or `arg => body` spanning start:end."""
        t = self.tokens
        i = start
        if self._is(i, "async"):
            i += 1
        if self._is(i, "("):
            close = self._matching(i)
            if close == -1:
                return None
            i = close + 1
            if self._is(i, ":"):  # a TypeScript return type
                while i < end and not self._is(i, "=>"):
                    i += 1
        elif i < end and t[i].kind == "name":
            i += 1
        else:
            return None
        if not self._is(i, "=>"):
            return None
        return i + 1, end

    def _function_result(self, start: int, end: int, depth: int) -> Any:
        """What an arrow or function body returns: the expression, or its last `return`."""
        if not self._is(start, "{") or self._matching(start) != end - 1:
            return self.value(start, end, depth + 1)
        returned = UNKNOWN
        i = start + 1
        level = 0
        while i < end - 1:
            token = self.tokens[i]
            if token.kind == "punct" and token.value in "([{":
                level += 1
            elif token.kind == "punct" and token.value in ")]}":
                level -= 1
            elif level == 0 and token.kind == "name" and token.value == "return":
                stop = self._expression_end(i + 1)
                returned = self.value(i + 1, stop, depth + 1)
                i = stop
                continue
            elif level == 0 and token.kind == "name" and token.value in ("const", "let", "var"):
                i = self._scan_declaration(i + 1)  # locals the return may name
                continue
            i += 1
        return returned

    def _call(self, start: int, end: int) -> tuple[str, int, int] | None:
        """(callee, args start, args end) when start:end is `name(...)` or `a.b(...)`,
        also with type arguments (`defineConfig<T>(…)`)."""
        t = self.tokens
        i = start
        if self._is(i, "new"):
            i += 1
        parts = []
        while i < end and t[i].kind == "name":
            parts.append(t[i].value)
            if self._is(i + 1, "."):
                i += 2
                continue
            i += 1
            break
        if not parts:
            return None
        if self._is(i, "<"):  # type arguments
            level = 0
            while i < end:
                if self._is(i, "<"):
                    level += 1
                elif self._is(i, ">"):
                    level -= 1
                    if level == 0:
                        i += 1
                        break
                i += 1
        if not self._is(i, "(") or self._matching(i) != end - 1:
            return None
        return ".".join(parts), i + 1, end - 1


@dataclass
class JsConfig:
    """What a config file exports (`exported`), plus the whole file's bindings."""

    exported: Any
    imports: dict[str, str]

    def get(self, path: str, default: Any = None) -> Any:
        """`get("build.outDir")`: the value at a dotted path of the exported config.

        A wrapper call (`defineConfig({...})`, `withPlugins(cfg)`) is looked through: its
        first argument that is an object is the config. Absent keys give `default`;
        computed ones give UNKNOWN.
        """
        node = unwrap(self.exported)
        for part in path.split("."):
            node = unwrap(node)
            if node is UNKNOWN:
                return UNKNOWN
            if not isinstance(node, dict):
                return default
            if part not in node:
                return default
            node = node[part]
        return node


def unwrap(value: Any) -> Any:
    """The object inside wrapper calls: `defineConfig({...})` -> `{...}`."""
    for _ in range(MAX_DEPTH):
        if not isinstance(value, Call):
            return value
        objects = [a for a in value.args if isinstance(a, dict | Call)]
        if not objects:
            return UNKNOWN
        value = next((a for a in objects if isinstance(a, dict)), objects[0])
    return UNKNOWN


def read_js_config(text: str) -> JsConfig:
    """Evaluate what a JS/TS config file exports, without running it."""
    reader = _Reader(tokenize(text))
    exported = reader.value(*reader.exported) if reader.exported else UNKNOWN
    return JsConfig(exported=exported, imports=dict(reader.imports))
