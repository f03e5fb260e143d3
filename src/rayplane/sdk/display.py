"""Text from resources and processes, shown without letting it steer the screen.

Names, messages and statuses come from resources anyone could write, and from processes'
output. Nothing from them may steer a terminal: control characters (cursor moves, title
or clipboard escapes, a carriage return that hides a line) are shown as visible escapes,
and text spliced into Rich markup goes through :func:`safe` so `[red]` in a message is
printed, not obeyed. The CLI's consoles and the SDK's progress share these, so a progress
table in a notebook is as safe as one on a terminal.
"""

from __future__ import annotations

import importlib
import io
import re
from typing import Any

import rich
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides
# that make a terminal show text in another order than it is.
_CONTROLS = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
_CONTROL = re.compile(_CONTROLS)
# What logs keep besides: colour (SGR) sequences and carriage returns, as a terminal
# shows a process's own output (`kubectl logs` passes them on too).
_LOG_CONTROL = re.compile(r"(\x1b\[[0-9;]*m|\r)|" + _CONTROLS)


def _visible(match: re.Match[str]) -> str:
    if match.lastindex:  # a kept log sequence
        return match.group()
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """*text* with every control character shown as an escape (``\\x1b``)."""
    return _CONTROL.sub(_visible, text)


def printable_log(text: str) -> str:
    """A process's output: colours and carriage returns kept, other controls escaped."""
    return _LOG_CONTROL.sub(_visible, text)


def safe(value: Any) -> str:
    """*value* as text to splice into Rich markup: controls escaped, markup inert."""
    return escape(printable(str(value)))


class SafeConsole(Console):
    """Every string Rich renders (print arguments, table cells) is made printable first.

    Text printed with markup on holds our own markup and resource data: all controls are
    escaped. Text printed with ``markup=False`` is verbatim output (logs, YAML): there
    colours survive, as in `kubectl logs`, and every other control is escaped.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        markup = kwargs.get("markup")
        verbatim = markup is False or (markup is None and not self._markup)
        return super().render_str(printable_log(text) if verbatim else printable(text), **kwargs)


def console(stderr: bool) -> Console:
    """A safe console that does not squeeze tables to 80 columns when piped or captured."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 240
    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def progress_console() -> Console:
    """Where the SDK shows progress outside a notebook: stderr, as the CLI does."""
    return console(stderr=True)


def in_notebook() -> bool:
    """True in a Jupyter kernel (where progress goes to the cell, as a table kept current)."""
    return bool(rich.get_console().is_jupyter)


_PRE = "<pre style=\"white-space:pre;font-family:Menlo,'DejaVu Sans Mono',monospace\">{code}</pre>"


class NotebookView:
    """One display in the notebook cell, replaced in place as the table changes.

    Rich's Live needs ipywidgets in a notebook; IPython's display handle does not, and
    nbclient (and a saved notebook) keep its last state, so the cell ends showing the
    final table. The table is rendered by a :class:`SafeConsole`, so its text is escaped.
    """

    def __init__(self) -> None:
        self._display: Any = importlib.import_module("IPython.display")
        self._handle: Any = None

    def update(self, renderable: RenderableType) -> None:
        recorder = SafeConsole(
            record=True, file=io.StringIO(), width=160, force_jupyter=False, highlight=False
        )
        recorder.print(renderable)
        data = {
            "text/plain": recorder.export_text(clear=False),
            "text/html": recorder.export_html(inline_styles=True, code_format=_PRE),
        }
        if self._handle is None:
            self._handle = self._display.display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)
