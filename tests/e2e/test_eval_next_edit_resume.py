"""`codefill eval next-edit` cut off mid-run (killed, as a crash or a lost machine would) goes on
where it stopped: the same command asks the server only for the cases it is missing, and the
report has them all."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from fastapi import FastAPI

from tests.e2e.servers import CODEFILL
from tests.fakes import FakeServer
from tests.unit.next_edit_repo import make_history


def _server(answered: list[dict], hang_after: int | None) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "m", "object": "model"}]}

    @app.post("/v1/next_edit")
    async def next_edit(body: dict):
        if hang_after is not None and len(answered) >= hang_after:
            await asyncio.sleep(3600)  # the run is killed while it waits here
        answered.append(body)
        return {"id": "x", "object": "next_edit", "model": body["model"], "window": body["window"],
                "edits": [], "finish_reason": "stop",
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    return app


def test_a_killed_run_goes_on_where_it_stopped(tmp_path):
    repo = make_history(tmp_path)
    out = tmp_path / "ne.json"
    first: list[dict] = []
    with FakeServer(_server(first, hang_after=2)) as server:
        cmd = [CODEFILL, "eval", "next-edit", "--url", server.url, "--repo", str(repo), "--limit", "5",
               "--holdout", "0.3", "--out", str(out), "--quiet"]
        run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(first) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        run.kill()
        _, err = run.communicate()
    assert len(first) == 2 and not out.exists(), err[-3000:]
    partial = tmp_path / "ne.json.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 2  # the settings, then a row per answer

    second: list[dict] = []
    with FakeServer(_server(second, hang_after=None)) as server:
        done = subprocess.run([*cmd[:4], server.url, *cmd[5:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "going on from 2 rows" in done.stderr
    asked = [(b["window"]["text"], b["cursor"]) for b in first + second]
    assert len(second) == 3 and len({json.dumps(a) for a in asked}) == 5  # each case asked once in all
    report = json.loads(out.read_text())
    assert report["summary"]["m"]["cases"] == 5 and report["summary"]["m"]["errors"] == 0
    assert not partial.exists()  # the report has the rows now
