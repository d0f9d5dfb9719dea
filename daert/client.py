"""The CLI as a client of a running `daert serve`: the assistant's turns go through the server
(its model already loaded), and come back as the same run events an in-process turn yields.

`daert serve` leaves a record of where it listens in the data dir (`run/server.json`);
`find_server` trusts it only when its process lives and `/healthz` answers at once.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from core.errors import DaertError, ServiceError
from graphs.assistant.events import RunEvent, RunFailed, parse_event

RECORD = "server.json"


def record_path(data_dir: Path) -> Path:
    return data_dir / "run" / RECORD


def write_record(data_dir: Path, url: str) -> Path:
    path = record_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "url": url}))
    return path


def remove_record(data_dir: Path) -> None:
    path = record_path(data_dir)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def find_server(data_dir: Path, *, timeout: float = 0.5) -> str | None:
    """The URL of the live server of this data dir, or None."""
    try:
        found = json.loads(record_path(data_dir).read_text())
        pid, url = int(found["pid"]), str(found["url"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        if httpx.get(f"{url}/healthz", timeout=timeout).status_code == 200:
            return url
    except httpx.HTTPError:
        return None
    return None


class ServerAssistant:
    """`Assistant.stream`'s contract, over HTTP: runs of the built-in assistant on a thread."""

    def __init__(self, base: str, *, key: str | None = None, timeout: float = 600.0) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def stream(
        self,
        question: str,
        *,
        thread_id: str | None = None,
        user_id: str = "local",
        cache: bool = True,
    ) -> AsyncIterator[RunEvent]:
        """The turn's events; a failure the server reports is raised as its `DaertError`."""
        headers = {"X-Daert-User": user_id}
        if thread_id is None:
            created = await self.http.post("/threads", json={}, headers=headers)
            _raise_for(created)
            thread_id = str(created.json()["thread_id"])
        body = {
            "assistant_id": "daert",
            "input": {"messages": [{"role": "user", "content": question}]},
            "config": {"configurable": {"cache": cache}},
            "stream_mode": ["custom"],
            "if_not_exists": "create",
        }
        async with self.http.stream(
            "POST", f"/threads/{thread_id}/runs/stream", json=body, headers=headers
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response)
            async for event, data in _sse(response):
                if event == "custom":
                    parsed = parse_event(data)
                    yield parsed
                    if isinstance(parsed, RunFailed):
                        raise DaertError(parsed.message, hint=parsed.hint, code=parsed.code)
                elif event == "error":
                    raise DaertError(
                        str(data.get("message", "the run failed")),
                        hint="see the server's log",
                        code=str(data.get("error", "run_failed")),
                    )


async def _sse(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    event, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if event and data:
                yield event, json.loads("\n".join(data))
            event, data = "", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise ServiceError(
            f"the server answered {response.status_code}: {response.text[:200]}",
            hint="see the server's log, or run in-process with --local",
            code="server_error",
        ) from None
    failure = DaertError(str(error.get("message")), hint=str(error.get("hint", "")),
                         code=str(error.get("code", "server_error")))  # fmt: skip
    failure.exit_code = 2 if response.status_code < 500 else 1
    raise failure
