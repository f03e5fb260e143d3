"""A CPU-only stand-in for the seed's Mistral-7B service: a text transform behind Serve.

It answers quickly and deterministically, so a load test measures the control plane
(routing, failover, upgrades), not a model. `GREETING` (an env var of the Ray container)
shows which cluster answered, which makes an upgrade visible from the outside.
"""

from __future__ import annotations

import os
from typing import Any

from ray import serve
from starlette.requests import Request


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class TextTransform:
    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix

    async def __call__(self, request: Request) -> dict[str, Any]:
        text = request.query_params.get("text", "")
        return {
            "upper": text.upper() + self.suffix,
            "words": len(text.split()),
            "greeting": os.environ.get("GREETING", "hello"),
        }


app = TextTransform.bind()  # type: ignore[attr-defined]
