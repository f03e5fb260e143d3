"""In a Jupyter notebook, a wait's progress is a table in the cell, kept current, safe.

Run in a real kernel (nbclient), as a notebook user sees it: the cell's output ends with
the last table (the node and the one-line reason it failed), its text escaped.
"""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

CELL = """
import itertools
from rayplane.sdk.waiting import service_outcome, wait_for

node = {"name": "s1-head-x", "group": "headgroup", "kind": "head", "state": "starting",
        "reason": "ray start\\x1b[2J"}
details = itertools.chain(
    [{"kind": "RayService", "local": {"nodes": [node]}}],
    itertools.repeat({"kind": "RayService", "local": {"nodes": [node],
                      "serveFailure": "ValueError: no app named [red]x[/red]"}}),
)
outcome = wait_for("RayService default/s1", lambda: next(details), service_outcome, 60, 0.05)
print("outcome:", outcome.failed, outcome.message)
"""


@pytest.mark.timeout(120)
def test_progress_is_a_table_in_the_cell_that_ends_with_the_failure() -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CELL)])
    nbclient.NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    tables = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert len(tables) == 1  # one display, updated in place
    assert "s1-head-x" in tables[0] and "starting" in tables[0]
    assert "ray start\\x1b[2J" in tables[0]  # shown, not obeyed
    assert "ValueError: no app named [red]x[/red]" in tables[0]
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "outcome: True ValueError: no app named [red]x[/red]" in printed
