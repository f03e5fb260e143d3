"""Go's string and JSON formatting, where KubeRay's output reaches a shell or a user.

KubeRay builds the submitter's script with ``strconv.Quote`` and ``json.Marshal``; a job
submitted through rayplane must see byte-for-byte the same arguments (and a retry of the
same submitter must produce the same script), so both runtimes format through here.
"""

from __future__ import annotations

import json
from typing import Any, Final

_GO_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
_HTML_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def go_json(value: Any) -> str:
    """json.Marshal's output: compact, map keys sorted, HTML characters escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in _HTML_ESCAPES:
        text = text.replace(char, escaped)
    return text


def go_quote(text: str) -> str:
    """strconv.Quote: a double-quoted string with Go's escapes."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
