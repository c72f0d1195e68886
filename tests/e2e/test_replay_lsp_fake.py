"""`codefill bench replay` end to end: a tiny history typed through the real `codefill lsp`
(and the plain client) against the fake FIM server, counted in the report."""

from __future__ import annotations

import json

import pytest

from codefill.commands.cli import main
from tests.fakes import FakeServer
from tests.lsp_fakes import FimFake

BEFORE = "def add(a, b):\n    return a + b\n\n\n"
TEXT = "total = add(1, 2)\nresult = total * 2"
AFTER = "\n"


def upcoming(body: dict) -> str:
    """A model that knows what the user will type: the rest of TEXT after the prompt."""
    prompt = body["prompt"]
    for typed in range(len(TEXT), -1, -1):
        if prompt.endswith(BEFORE[-20:] + TEXT[:typed]):
            return TEXT[typed:]
    return "never typed"


@pytest.fixture()
def history(tmp_path):
    path = tmp_path / "sessions.json"
    path.write_text(json.dumps({"sessions": [
        {"id": "calc", "path": "calc.py", "before": BEFORE, "text": TEXT, "after": AFTER}]}))
    return path


def replay(fake_url: str, history, out, *extra: str) -> dict:
    # Constant rhythm at speed 2: 77 ms between keys, 227 ms after "(", 652 ms after a line;
    # with a 100 ms debounce the editor asks after "(" and after the line break only.
    rc = main(["bench", "replay", "--url", fake_url, "--sessions-file", str(history), "--rhythm", "constant",
               "--typing-speed", "2", "--debounce-ms", "100", "--warmup", "0", "--request-timeout", "5",
               "--out", str(out), "--quiet", *extra])
    assert rc == 0
    assert out.with_suffix(".md").exists() and out.with_suffix(".png").exists()
    return json.loads(out.read_text())


def test_an_answer_that_is_the_upcoming_text_is_accepted_whole(history, tmp_path):
    fake = FimFake(answer=upcoming)
    with FakeServer(fake.app()) as server:
        report = replay(server.url, history, tmp_path / "r.json")
    assert report["client_names"] == ["codefill lsp", "plain client"]
    for name in report["client_names"]:
        f = report["clients"][name]
        assert f["requests"] >= 1 and f["shown"] >= 1, f
        assert f["stale"] == 0
        assert f["documents_intact"] == 1
        assert f["whole_rate"] == 1.0
        # asked after "total = add(": the rest, 24 of 35 characters, comes from the suggestion
        assert f["accepted_chars"] >= 20, f
        assert f["accepted_chars_per_100"] == pytest.approx(100 * f["accepted_chars"] / len(TEXT), abs=0.01)
        assert f["keystrokes"] + f["accepted_chars"] >= len(TEXT)
    lsp = report["clients"]["codefill lsp"].get("lsp")
    if lsp is not None:  # a language server with codefill.stats
        assert lsp.get("sent", 1) >= 1
    assert len(fake.requests) >= 2


def test_late_answers_are_outdated_for_the_plain_client_and_never_accepted(history, tmp_path):
    fake = FimFake(answer=upcoming)
    fake.first_chunk_delay_s = 0.6  # the user types on while the model thinks
    with FakeServer(fake.app()) as server:
        report = replay(server.url, history, tmp_path / "late.json", "--clients", "plain,codefill")
    plain, lsp = report["clients"]["plain client"], report["clients"]["codefill lsp"]
    # right for the text as asked, which the user has typed past: the editor drops them (judge.py)
    assert plain["outdated"] >= 1 and plain["stale"] == 0
    late = [a for r in report["results"]["plain client"] for a in r["asks"] if a["outcome"] == "outdated"]
    assert all(a["behind"] >= 1 and a["item"] and not a["accepted"] for a in late)
    assert lsp["stale"] == 0  # adjusted to what was typed meanwhile, or dropped
    for f in (plain, lsp):
        assert f["documents_intact"] == 1
        assert f["accepted_chars"] <= len(TEXT)
