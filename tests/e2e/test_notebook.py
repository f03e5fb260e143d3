"""The quickstart notebook, executed top to bottom by a real Jupyter kernel on the local
runtime, as a data scientist would run it from JupyterHub (the seed's JARK stack).

Every cell must run without error (the notebook asserts its own results as it goes), and
the outputs a reader looks at say what they should. Afterwards no process of the cluster
is left.
"""

from __future__ import annotations

import json

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from tests.e2e.conftest import Local
from tests.support import ROOT

pytestmark = pytest.mark.ray

NOTEBOOK = ROOT / "examples" / "notebooks" / "quickstart.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def test_quickstart_notebook_runs_top_to_bottom(local: Local) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), (
        "the notebook is stored without outputs"
    )
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute(env=local.env)  # a failing cell raises CellExecutionError with its text

    outputs = [(cell.source, _text(cell)) for cell in nb.cells if cell.cell_type == "code"]

    def out(code: str) -> str:
        """The output of the one cell whose source holds *code*."""
        (text,) = [text for source, text in outputs if code in source]
        return text

    shown = json.dumps(outputs, indent=1)[-4000:]
    assert "kind: RayCluster" in out("cluster.to_yaml()"), shown
    assert "ready" in out("cluster.apply()"), shown
    assert "999000" in out('ds.sum("x")'), shown
    assert "hello from a job" in out("jobs.submit(") and "SUCCEEDED" in out("jobs.submit("), shown
    assert "2 workers" in out("cluster.scale("), shown
    assert "deleted" in out("cluster.delete()"), shown

    # Nothing of the cluster runs any more: no process has its Ray node environment.
    leftover = [p.pid for p in psutil.process_iter(["environ"]) if _of_seed_cluster(p)]
    assert not leftover, f"processes of the deleted cluster still run: {leftover}"


def _of_seed_cluster(proc: psutil.Process) -> bool:
    try:
        env = proc.info.get("environ") or {}
    except (psutil.Error, AttributeError):
        return False
    return bool(
        env.get("RAY_CLUSTER_NAME") == "raycluster-basic"
        and env.get("RAY_CLUSTER_NAMESPACE") == "raydata"
        and env.get("RAYPLANE_NODE_MARKER")
    )
