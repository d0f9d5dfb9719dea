"""The LangGraph dev server (`langgraph-cli[inmem]`): in-memory, no database.

    langgraph dev --no-browser --no-reload --host 127.0.0.1 --port P --config langgraph.json

run in a project dir whose langgraph.json is
`{"dependencies": ["."], "graphs": {"trivial": "./trivial_graph.py:graph"}}`. `--no-reload`
leaves out the file watcher (a development aid, not part of serving); analytics are off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from eval.bench.peers import Peer

SPEC = ["langgraph-cli[inmem]"]


@dataclass
class LangGraphDev(Peer):
    """`langgraph dev` on the trivial graph."""

    def command(self, port: int) -> list[str]:
        return [
            str(self.bin / "langgraph"),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--config",
            self.config_name,
        ]

    def extra_env(self) -> dict[str, str]:
        return {"LANGGRAPH_CLI_NO_ANALYTICS": "1"}


def make(workdir: Path, uv: list[str], python: str, spec: list[str] | None = None) -> LangGraphDev:
    return LangGraphDev(
        name="langgraph",
        title="LangGraph dev server",
        spec=spec or SPEC,
        config_name="langgraph.json",
        home=workdir / "peers" / "langgraph",
        uv=uv,
        python=python,
    )
