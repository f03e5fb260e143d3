"""``scripts/kube-up``, ``kube-down``, ``kube-apply``: the control plane from a shell.

``python -m rayplane.kubernetes.testing.controlplane up|down|status|apply`` lands here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from rayplane.kubernetes.testing.controlplane import (
    ControlPlane,
    State,
    kubeconfig,
    write_yaml,
)
from rayplane.kubernetes.testing.controlplane import __doc__ as CONTROLPLANE_DOC
from rayplane.kubernetes.testing.processes import ControlPlaneError


def default_folder() -> Path:
    home = os.environ.get("RAYPLANE_HOME") or str(Path.home() / ".rayplane")
    return Path(home) / "kube"


def _install_operator(plane: ControlPlane, state: State) -> Path:
    """deploy/'s CRDs and RBAC, and a kubeconfig that logs in as the operator's account."""
    from rayplane.kubernetes.testing.install import install_crds, install_operator_rbac

    with plane.admin_client(timeout=60.0) as admin:
        install_crds(admin)
        token = install_operator_rbac(admin)
    return write_yaml(
        Path(state.folder) / "operator.kubeconfig",
        kubeconfig(state.server, Path(state.ca_file), {"token": token}),
    )


def _apply_file(plane: ControlPlane, path: Path, namespace: str | None) -> None:
    """Server-side apply every document of *path* as the admin (kubectl apply's job)."""
    from rayplane.kubernetes.testing.rest import apply

    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    with plane.admin_client(timeout=60.0) as admin:
        for doc in docs:
            ns = namespace or (doc.get("metadata") or {}).get("namespace")
            if ns:
                apply(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
                doc["metadata"]["namespace"] = ns
            apply(admin, doc)
            print(f"{doc['kind']}/{doc['metadata']['name']} applied")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kube-up / kube-down", description=CONTROLPLANE_DOC)
    parser.add_argument("action", choices=("up", "down", "status", "apply"))
    parser.add_argument("--dir", type=Path, default=default_folder(), help="state folder")
    parser.add_argument("--no-nodesim", action="store_true", help="do not start the node simulator")
    parser.add_argument(
        "--install",
        action="store_true",
        help="up: also install deploy/'s CRDs and the operator's ServiceAccount and RBAC",
    )
    parser.add_argument("-f", "--filename", type=Path, help="apply: a YAML file")
    parser.add_argument("-n", "--namespace", help="apply: put every object in this namespace")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.dir, simulate_nodes=not args.no_nodesim)
    try:
        if args.action == "up":
            state = plane.up()
            for proc in state.processes:
                print(f"{proc.name}: pid {proc.pid}, log {proc.log}")
            print(f"API server {state.server} (Pods' processes are simulated: no kubelet)")
            if args.install:
                operator_conf = _install_operator(plane, state)
                print(
                    "CRDs and the operator's RBAC installed from deploy/; run it as its "
                    f"ServiceAccount: KUBECONFIG={operator_conf} rayplane operator"
                )
            print(f"KUBECONFIG={state.kubeconfig}")
        elif args.action == "down":
            stopped = plane.down()
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif args.action == "apply":
            if args.filename is None:
                parser.error("apply needs -f FILE")
            _apply_file(plane, args.filename, args.namespace)
        else:
            state = plane._state()
            for proc in state.processes:
                print(f"{proc.name}: pid {proc.pid} {'running' if proc.alive() else 'gone'}")
            print(f"KUBECONFIG={state.kubeconfig}")
    except (ControlPlaneError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
