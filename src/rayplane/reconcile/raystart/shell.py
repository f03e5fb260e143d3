"""One bash word's quote removal and $VAR expansion, as the Ray container's shell does it.

On Kubernetes the `ray start` flags pass through bash; locally they are exec'd. Undoing the
quoting here is what makes a flag written for bash reach the process as the same argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shell_word(text: str, env: Mapping[str, str] | None) -> str:
    """Quote removal (and, with *env*, parameter expansion) of one bash word.

    Handles '...', "..." (where only $ ` " \\ and newline are escapable), backslash escapes
    and $VAR / ${VAR}. Unquoted whitespace is kept rather than splitting the word: a flag is
    one argument here. Unbalanced quotes are kept literally.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "'":
            end = text.find("'", i + 1)
            if end < 0:
                out.append(text[i:])
                break
            out.append(text[i + 1 : end])
            i = end + 1
        elif char == '"':
            end = _closing_double_quote(text, i + 1)
            if end < 0:
                out.append(text[i:])
                break
            j = i + 1
            while j < end:
                if text[j] == "\\" and j + 1 < end and text[j + 1] in '$`"\\\n':
                    out.append(text[j + 1])
                    j += 2
                elif text[j] == "$":
                    expanded, j = _expand(text, j, env)
                    out.append(expanded)
                else:
                    out.append(text[j])
                    j += 1
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif char == "$":
            expanded, i = _expand(text, i, env)
            out.append(expanded)
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _closing_double_quote(text: str, start: int) -> int:
    j = start
    while j < len(text):
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == '"':
            return j
        j += 1
    return -1


def _expand(text: str, start: int, env: Mapping[str, str] | None) -> tuple[str, int]:
    """Expand the $VAR or ${VAR} at *start*; returns the text and the index after it."""
    if text.startswith("${", start):
        end = text.find("}", start + 2)
        name = text[start + 2 : end] if end >= 0 else ""
        if end < 0 or not _VAR.fullmatch(name):
            return "$", start + 1
        stop = end + 1
    else:
        match = _VAR.match(text, start + 1)
        if match is None:
            return "$", start + 1
        name, stop = match.group(), match.end()
    if env is None:
        return text[start:stop], stop
    return env.get(name, ""), stop
