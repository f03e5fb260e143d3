"""``python -m rayplane.kubernetes.testing``: serve the fake Kubernetes API (see --help)."""

from rayplane.kubernetes.testing.fake_api import main

main()
