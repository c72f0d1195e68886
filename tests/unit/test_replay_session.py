"""A session typed through a scripted asker: what the replay counts when an answer
arrives after the user typed on (codefill.jobs.bench.replay.judge)."""

from __future__ import annotations

import asyncio

from codefill.jobs.bench.replay.askers import Asker, Asking
from codefill.jobs.bench.replay.histories import EditSession
from codefill.jobs.bench.replay.judge import Item
from codefill.jobs.bench.replay.positions import position_of
from codefill.jobs.bench.replay.session import Options, replay_session
from codefill.jobs.bench.replay.typist import Rhythm

# 10 ms between keys, 60 ms after "(": with a 30 ms debounce the editor asks once, after "f(".
RHYTHM = Rhythm("constant", key_ms=(10.0, 10.0), think_ms=(50.0, 50.0), line_end_ms=(10.0, 10.0))
SESSION = EditSession(id="s", path="a.py", language="python", before="x = ", text="f(ab)", after="\n")


class CrossingAsker(Asker):
    """A server that answers for the text it has, the answer reaching the editor just after
    the next keystroke has left for the server: the two cross on the way."""

    name = "crossing"
    url = ""

    def __init__(self, answer) -> None:
        self.answer = answer  # (document, cursor) asked at -> Item
        self._gates: list[asyncio.Future] = []

    async def edit(self, uri, version, at, text) -> None:
        for gate in self._gates:
            if not gate.done():
                gate.set_result(None)
        self._gates.clear()

    def ask(self, uri, version, document, cursor) -> Asking:
        item = self.answer(document, cursor)
        gate = asyncio.get_running_loop().create_future()
        self._gates.append(gate)

        async def arrive():
            await gate
            return item

        return Asking(asyncio.ensure_future(arrive()))


def _replay(answer):
    options = Options(RHYTHM, pause_s=0.03, accept=True)
    return asyncio.run(replay_session(SESSION, CrossingAsker(answer), "file:///a.py", options))


def _as_the_server_makes_it(document: str, cursor: int) -> Item:
    """codefill lsp's item: the line up to the cursor and the rest, replacing that line part."""
    line, character = position_of(document, cursor)
    line_start = document.rfind("\n", 0, cursor) + 1
    return Item(document[line_start:cursor] + "ab)", (line, 0), (line, character))


def test_an_answer_that_crossed_a_keystroke_is_outdated_not_stale():
    result = _replay(_as_the_server_makes_it)
    [ask] = result.asks
    assert ask.typed == 2 and ask.outcome == "outdated", ask
    assert ask.behind == 1  # right for the text one keystroke back: the one it was asked for
    assert ask.item == {"insertText": "x = f(ab)", "start": [0, 0], "end": [0, 6]}
    assert not ask.accepted and result.accepted_chars == 0
    assert result.final_ok


def test_an_answer_right_for_no_text_the_editor_had_is_stale():
    result = _replay(lambda document, cursor: Item("y = g(", (0, 0), (0, 6)))
    [ask] = result.asks
    assert ask.outcome == "stale" and ask.behind is None and not ask.accepted
    assert result.final_ok
