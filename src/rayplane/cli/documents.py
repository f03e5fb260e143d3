"""The documents of ``-f`` files, or exit 2 with why there are none (a verb then has nothing
it could do, and says so the same way everywhere)."""

from __future__ import annotations

import typer
from rich.markup import escape

from rayplane.api.loading import Document, LoadError, load
from rayplane.cli.output import err


def load_or_exit(files: list[str]) -> list[Document]:
    """Every document in *files*; exit 2 when one cannot be read or there is none."""
    try:
        docs = load(files)
    except LoadError as exc:
        err.print(escape(str(exc)))
        raise typer.Exit(2) from exc
    if not docs:
        err.print("no documents found in " + ", ".join(files))
        raise typer.Exit(2)
    return docs
