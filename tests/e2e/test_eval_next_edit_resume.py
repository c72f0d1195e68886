"""`codefill eval next-edit` cut off mid-run (killed, as a crash or a lost machine would) goes on
where it stopped: the same command asks the server only for the cases it is missing, and the
report has them all."""

from __future__ import annotations

import json
import subprocess
import time

from tests.e2e.servers import CODEFILL
from tests.fakes import FakeServer
from tests.lsp_fakes import MODEL, FimFake
from tests.unit.next_edit_repo import make_history


def _answered(fim: FimFake) -> list[dict]:
    return [b for b, o in zip(fim.next_edit_requests, fim.next_edit_outcomes) if o == "completed"]


def test_a_killed_run_goes_on_where_it_stopped(tmp_path):
    repo = make_history(tmp_path)
    out = tmp_path / "ne.json"
    first = FimFake()
    first.next_edit_hang_after = 2  # the third request waits until the run is killed
    with FakeServer(first.app()) as server:
        cmd = [CODEFILL, "eval", "next-edit", "--url", server.url, "--repo", str(repo), "--limit", "5",
               "--holdout", "0.3", "--out", str(out), "--quiet"]
        run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(first.next_edit_requests) < 3 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        run.kill()
        _, err = run.communicate()
    assert len(_answered(first)) == 2 and not out.exists(), err[-3000:]
    partial = tmp_path / "ne.json.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 2  # the settings, then a row per answer

    second = FimFake()
    with FakeServer(second.app()) as server:
        done = subprocess.run([*cmd[:4], server.url, *cmd[5:]], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "going on from 2 rows" in done.stderr
    asked = [(b["window"]["text"], b["cursor"]) for b in _answered(first) + _answered(second)]
    assert len(second.next_edit_requests) == 3 and len({json.dumps(a) for a in asked}) == 5  # each case once in all
    report = json.loads(out.read_text())
    assert report["summary"][MODEL]["cases"] == 5 and report["summary"][MODEL]["errors"] == 0
    assert not partial.exists()  # the report has the rows now
