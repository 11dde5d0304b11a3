"""A tokenizer for JavaScript and TypeScript source: comments dropped, strings decoded,
template and regex literals skipped whole, so nothing inside a comment or a string is ever
taken for code. `strip_comments` gives the source back with comments blanked."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TOKENS = 200_000


@dataclass(frozen=True)
class Token:
    kind: str  # name | str | num | punct | template | regex
    value: str
    line: int


# ---------------------------------------------------------------------------------------------
# Tokenizer

_NAME_START = re.compile(r"[A-Za-z_$\u00a0-\uffff]")
_NAME = re.compile(r"[A-Za-z0-9_$\u00a0-\uffff]*")
_NUMBER = re.compile(
    r"(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?)n?"
)
_PUNCT3 = ("===", "!==", "...", "**=", "<<=", ">>=", "&&=", "||=", "??=")
_PUNCT2 = ("=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=")
# After these a `/` starts a regex literal rather than a division.
_REGEX_AFTER_WORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case"}
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _regex_allowed(previous: Token | None) -> bool:
    if previous is None:
        return True
    if previous.kind == "name":
        return previous.value in _REGEX_AFTER_WORDS
    if previous.kind == "punct":
        return previous.value not in (")", "]", "}")
    return False


def _read_string(text: str, start: int, quote: str) -> tuple[str, int]:
    """The decoded string starting after `quote` at `start`, and the index after it."""
    out: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\n":
                i += 2
                continue
            if nxt == "u" and text[i + 2 : i + 3] == "{":
                end = text.find("}", i + 3)
                code = text[i + 3 : end] if end != -1 else ""
                out.append(chr(int(code, 16)) if re.fullmatch(r"[0-9a-fA-F]{1,6}", code) else "")
                i = end + 1 if end != -1 else len(text)
                continue
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                out.append(chr(int(text[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2 : i + 4]):
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if char == quote:
            return "".join(out), i + 1
        if char == "\n" and quote != "`":
            return "".join(out), i  # an unterminated string ends at the line
        out.append(char)
        i += 1
    return "".join(out), i


def _skip_template(text: str, start: int) -> tuple[str | None, int]:
    """A template literal starting after its backtick: its text when it has no `${…}`
    substitution (None when it has one), and the index after the closing backtick."""
    out: list[str] = []
    i = start
    dynamic = False
    while i < len(text):
        char = text[i]
        if char == "\\":
            out.append(_ESCAPES.get(text[i + 1 : i + 2], text[i + 1 : i + 2]))
            i += 2
            continue
        if char == "`":
            return (None if dynamic else "".join(out)), i + 1
        if char == "$" and text[i + 1 : i + 2] == "{":
            dynamic = True
            i = _skip_code_until_brace(text, i + 2)
            continue
        out.append(char)
        i += 1
    return (None if dynamic else "".join(out)), i


def _skip_code_until_brace(text: str, start: int) -> int:
    """Index after the `}` closing a `${` substitution, skipping nested code and strings."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char in "'\"":
            _, i = _read_string(text, i + 1, char)
            continue
        if char == "`":
            _, i = _skip_template(text, i + 1)
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end == -1 else end + 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    return i


def _skip_regex(text: str, start: int) -> int:
    """Index after a regex literal whose opening `/` is at `start - 1` (flags included)."""
    i = start
    in_class = False
    while i < len(text) and text[i] != "\n":
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "/" and not in_class:
            i += 1
            while i < len(text) and (text[i].isalnum() or text[i] in "_$"):
                i += 1
            return i
        i += 1
    return i


def tokenize(text: str) -> list[Token]:
    """Tokens of JS/TS source with comments dropped; string tokens hold decoded values."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(text)
    if text.startswith("#!"):
        i = text.find("\n") if "\n" in text else n
    while i < n and len(tokens) < MAX_TOKENS:
        char = text[i]
        if char == "\n":
            line += 1
            i += 1
            continue
        if char.isspace() or char == "\ufeff":
            i += 1
            continue
        start_line = line
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            line += text.count("\n", i, end)
            i = end
            continue
        if char in "'\"":
            value, end = _read_string(text, i + 1, char)
            tokens.append(Token("str", value, start_line))
        elif char == "`":
            value, end = _skip_template(text, i + 1)
            tokens.append(
                Token("str" if value is not None else "template", value or "", start_line)
            )
        elif char == "/" and _regex_allowed(tokens[-1] if tokens else None):
            end = _skip_regex(text, i + 1)
            tokens.append(Token("regex", text[i:end], start_line))
        elif char.isdigit() or (char == "." and text[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(text, i)
            end = match.end() if match and match.end() > i else i + 1
            tokens.append(Token("num", text[i:end], start_line))
        elif _NAME_START.match(char) or char == "#":
            match = _NAME.match(text, i + 1)
            end = match.end() if match else i + 1
            tokens.append(Token("name", text[i:end], start_line))
        else:
            three, two = text[i : i + 3], text[i : i + 2]
            if three in _PUNCT3:
                value = three
            elif two in _PUNCT2:
                value = two
            else:
                value = char
            end = i + len(value)
            tokens.append(Token("punct", value, start_line))
        line += text.count("\n", i, end)
        i = end
    return tokens


def strip_comments(text: str) -> str:
    """`text` with `//` and `/* */` comments outside strings blanked (line breaks kept), for
    callers that still want to search the source itself."""
    out: list[str] = []
    i, n = 0, len(text)
    previous_significant = ""
    while i < n:
        char = text[i]
        if text.startswith("//", i) and previous_significant != "regex":
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append("".join(c if c == "\n" else " " for c in text[i:end]))
            i = end
            continue
        if char in "'\"":
            _, end = _read_string(text, i + 1, char)
        elif char == "`":
            _, end = _skip_template(text, i + 1)
        else:
            end = i + 1
        out.append(text[i:end])
        if not char.isspace():
            previous_significant = "str" if char in "'\"`" else char
        i = end
    return "".join(out)
