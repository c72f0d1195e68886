"""Pieces of the HTTP client that need no server: URLs and the raw-template cut.
(Requests themselves are tested end to end against a fake server.)"""

from __future__ import annotations

import pytest

from lsp.http_client import RawCut, api_root


@pytest.mark.parametrize("url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/"])
def test_api_root(url):
    assert api_root(url) == "http://h:8000/v1"


def test_raw_cut_single_line_stops_at_the_newline():
    cut = RawCut("qwen", multiline=False)
    assert cut.cut("a + b") == ("a + b", False)
    assert cut.cut("a + b\nprint()") == ("a + b", True)


def test_raw_cut_multi_line_stops_at_the_family_end_tokens():
    cut = RawCut("qwen", multiline=True)
    assert cut.cut("x = 1\ny = 2") == ("x = 1\ny = 2", False)
    assert cut.cut("x = 1\ny = 2<|file_sep|>other.py") == ("x = 1\ny = 2", True)
    assert cut.cut("x<|endoftext|>") == ("x", True)
    starcoder = RawCut("starcoder", multiline=True)
    assert starcoder.cut("x = 1<file_sep>") == ("x = 1", True)
