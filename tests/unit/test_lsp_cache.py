"""The completion cache: exact hits on the context key, typed-ahead hits, LRU eviction."""

from __future__ import annotations

from codefill.lsp.cache import ANCHOR_CHARS, CompletionCache

DOC = "def add(a, b):\n    \n\nprint(add(1, 2))\n"
CURSOR = DOC.index("    \n") + 4  # end of the indented empty line
COMPLETION = "return a + b"


def _cache_with_entry(**kw) -> CompletionCache:
    cache = CompletionCache(8)
    cache.put("k1", uri="file:///a.py", fingerprint="fp", document=DOC, offset=CURSOR, text=COMPLETION, **kw)
    return cache


def _typed(n: int) -> tuple[str, int]:
    return DOC[:CURSOR] + COMPLETION[:n] + DOC[CURSOR:], CURSOR + n


def test_exact_hit_on_the_key():
    cache = _cache_with_entry()
    assert cache.get("k1") == COMPLETION
    assert cache.get("other") is None


def test_typed_ahead_returns_the_rest():
    cache = _cache_with_entry()
    for n in (1, 3, len("return "), len(COMPLETION) - 1):
        document, offset = _typed(n)
        assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=document,
                                 offset=offset) == COMPLETION[n:]


def test_typed_ahead_misses():
    cache = _cache_with_entry()
    document, offset = _typed(3)
    # another document, other request settings
    assert cache.typed_ahead(uri="file:///b.py", fingerprint="fp", document=document, offset=offset) is None
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="x", document=document, offset=offset) is None
    # typed something else
    other = DOC[:CURSOR] + "pri" + DOC[CURSOR:]
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=other, offset=CURSOR + 3) is None
    # nothing typed yet, or all of it: a new request is due
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=DOC, offset=CURSOR) is None
    full, end = _typed(len(COMPLETION))
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=full, offset=end) is None
    # the code around the cursor changed since
    changed = document.replace("def add", "def sub")
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=changed, offset=offset) is None
    changed_after = document.replace("print(add", "print(sub")
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=changed_after, offset=offset) is None


def test_typed_ahead_ignores_changes_far_from_the_cursor():
    far = "# " + "x" * (ANCHOR_CHARS * 2) + "\n"
    document = far + DOC
    cache = CompletionCache(8)
    cache.put("k", uri="u", fingerprint="fp", document=document, offset=len(far) + CURSOR, text=COMPLETION)
    edited = "# " + "y" * 10 + far[12:] + DOC[:CURSOR] + "ret" + DOC[CURSOR:]  # an edit 2000 chars up
    assert cache.typed_ahead(uri="u", fingerprint="fp", document=edited, offset=len(far) + CURSOR + 3) == "urn a + b"


def test_newest_entry_wins():
    cache = _cache_with_entry()
    cache.put("k2", uri="file:///a.py", fingerprint="fp", document=DOC, offset=CURSOR, text="return b + a")
    document, offset = _typed(len("return "))
    assert cache.typed_ahead(uri="file:///a.py", fingerprint="fp", document=document, offset=offset) == "b + a"


def test_lru_eviction_and_resize():
    cache = CompletionCache(2)
    for key in ("a", "b"):
        cache.put(key, uri="u", fingerprint="f", document=DOC, offset=CURSOR, text=key * 3)
    assert cache.get("a") == "aaa"  # "a" is now the most recent
    cache.put("c", uri="u", fingerprint="f", document=DOC, offset=CURSOR, text="ccc")
    assert cache.get("b") is None and cache.get("a") == "aaa" and cache.get("c") == "ccc"
    cache.resize(1)
    assert len(cache) == 1 and cache.get("c") == "ccc"
    cache.resize(0)
    cache.put("d", uri="u", fingerprint="f", document=DOC, offset=CURSOR, text="ddd")
    assert len(cache) == 0


def test_empty_answers_are_remembered_but_never_typed_ahead():
    cache = CompletionCache(4)
    cache.put("k", uri="u", fingerprint="f", document=DOC, offset=CURSOR, text="")
    assert cache.get("k") == ""
    assert cache.typed_ahead(uri="u", fingerprint="f", document=DOC, offset=CURSOR) is None
