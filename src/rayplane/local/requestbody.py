"""Reading a request body off the controller socket: length checked first, then UTF-8 JSON.

Kept apart from the server loop so each refusal has one place and one clear reason: the
CLI shows the message as it is, and a 400 names what was wrong with the bytes sent.
"""

from __future__ import annotations

import json
from email.message import Message
from io import BufferedIOBase
from typing import Any

from rayplane.errors import RayplaneError

#: Longest string an error answer carries; a refused value is shown, not echoed whole.
ECHO_CHARS = 1024
#: Most list items an error answer carries (findings of a huge invalid object).
ECHO_ITEMS = 100


class BadRequest(RayplaneError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_body(headers: Message, rfile: BufferedIOBase, limit: int) -> Any:
    """The JSON body (None when there is none), or BadRequest saying what is wrong."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        raise BadRequest(
            411, "send the body with a Content-Length header; chunked bodies are not accepted"
        )
    lengths = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not lengths:
        return None
    if len(lengths) > 1:
        raise BadRequest(400, f"conflicting Content-Length headers: {sorted(lengths)}")
    raw = lengths.pop()
    if not raw.isdigit() or not raw.isascii():
        raise BadRequest(400, f"Content-Length {raw[:40]!r} is not a byte count")
    length = int(raw)
    if length > limit:
        raise BadRequest(
            413,
            f"the request body is {length} bytes; the limit is {limit} bytes, as on a "
            "Kubernetes API server; split the input or keep large data out of the object",
        )
    if length == 0:
        return None
    data = rfile.read(length)
    if len(data) < length:
        raise BadRequest(400, f"the body ended after {len(data)} of {length} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            400, f"the body is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            400, f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise BadRequest(400, "the body is not JSON this server reads: nested too deeply") from exc


def truncated(value: Any) -> Any:
    """*value* with long strings and long lists cut, saying how much was left out."""
    if isinstance(value, str):
        if len(value) <= ECHO_CHARS:
            return value
        return f"{value[:ECHO_CHARS]}... ({len(value) - ECHO_CHARS} more characters)"
    if isinstance(value, dict):
        return {truncated(str(k)): truncated(v) for k, v in value.items()}
    if isinstance(value, list):
        kept = [truncated(v) for v in value[:ECHO_ITEMS]]
        if len(value) > ECHO_ITEMS:
            kept.append(f"... ({len(value) - ECHO_ITEMS} more items)")
        return kept
    return value
