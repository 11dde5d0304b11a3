"""What the CLI prints: Rich on a terminal, plain text otherwise (and with `NO_COLOR` or
`TERM=dumb`: no escape codes at all, no live displays), plain JSON with `--json`."""

from __future__ import annotations

import json
import os
import re
import sys

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Output of builds and apps may carry terminal escapes; they are shown, never obeyed.
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


def _styled(stream) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _console(stream, styled: bool) -> Console:
    width = None
    if not styled and not os.environ.get("COLUMNS"):
        width = 200  # piped: keep table rows whole
    return Console(
        file=stream,
        color_system="auto" if styled else None,
        force_terminal=styled,
        highlight=False,
        emoji=False,
        width=width,
    )


class Output:
    def __init__(self):
        self.styled = _styled(sys.stdout)
        self.err_styled = _styled(sys.stderr)
        self.out = _console(sys.stdout, self.styled)
        self.err = _console(sys.stderr, self.err_styled)

    def json(self, data) -> None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def json_line(self, data) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def line(self, text: str | Text = "", style: str | None = None) -> None:
        self.out.print(text if isinstance(text, Text) else Text(text, style=style or ""))

    def info(self, text: str | Text, style: str | None = "dim") -> None:
        """A note for the person at the terminal (stderr, so stdout stays the data)."""
        self.err.print(text if isinstance(text, Text) else Text(text, style=style or ""))

    def error(self, message: str) -> None:
        self.err.print(Text("error: ", style="bold red") + Text(one_line(message)))

    def warn(self, message: str) -> None:
        self.err.print(Text("warning: ", style="yellow") + Text(one_line(message)))

    def table(self, columns: list[str], rows: list[list], empty: str = "nothing yet") -> None:
        if not rows:
            self.info(empty)
            return
        table = Table(
            box=box.SIMPLE_HEAD if self.styled else None,
            show_edge=False,
            header_style="bold" if self.styled else "",
            pad_edge=False,
        )
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*[Text(clean("" if cell is None else str(cell))) for cell in row])
        self.out.print(table)

    def fields(self, pairs: list[tuple[str, object]]) -> None:
        width = max(len(key) for key, _ in pairs)
        for key, value in pairs:
            if value in (None, "", []):
                continue
            self.out.print(
                Text(f"{key + ':':<{width + 1}} ", style="bold") + Text(clean(str(value))),
                soft_wrap=True,
            )


def clean(text: str) -> str:
    return _CONTROL.sub("", text.replace("\t", "    "))


def one_line(message: str) -> str:
    return " ".join(clean(message).split()) if "\n" in message else clean(message)
