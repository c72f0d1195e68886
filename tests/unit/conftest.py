"""Provisional fixtures for the unit tests (the lead replaces these with the session-wide ones)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def qwen_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.environ.get("CODEFILL_TEST_TOKENIZER", "/tmp/cf/qwen-tokenizer"))
