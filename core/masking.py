"""Masking secret values in output, and joining output read in pieces back into lines.

Output reaches Butler in reads that need not end at a line break: a value printed by an app
can arrive as `API_KEY=sk-12` in one read and `34567` in the next. Masking each read alone
would let both halves through, so output is first joined into whole lines (`LineJoiner`),
and every whole line is masked (`Masker`) before it is stored or sent.
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "****"
MIN_SECRET_LENGTH = 5  # shorter values ('1', 'true') would mask ordinary words
MAX_LINE_CHARS = 16_384  # a "line" this long without a break is let out in parts


class Masker:
    """Replaces every given value (and, for values spanning several lines, each of their
    lines) with `****`. Longest first, so a value containing another is masked whole."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for value in values:
            if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                continue
            found.add(value)
            # A line-oriented reader sees a multi-line value (a PEM key) line by line.
            found.update(
                part.strip("\r")
                for part in value.split("\n")
                if len(part.strip("\r")) >= MIN_SECRET_LENGTH
            )
        self.values = sorted(found, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def __repr__(self) -> str:
        return f"Masker({len(self.values)} values)"

    def mask(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text


class LineJoiner:
    """Joins pieces of one stream into whole lines (without their line break).

    `feed` returns the lines the piece completed; the rest waits for the next piece, up to
    `MAX_LINE_CHARS`. `finish` returns what is left when the stream ends.
    """

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self._partial = ""
        self._max = max_chars

    @property
    def pending(self) -> bool:
        return bool(self._partial)

    def feed(self, piece: str) -> list[str]:
        text = self._partial + piece
        *lines, self._partial = text.split("\n")
        if len(self._partial) >= self._max:
            lines.append(self._partial)
            self._partial = ""
        return [line.rstrip("\r") for line in lines]

    def finish(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return [rest.rstrip("\r")] if rest else []
