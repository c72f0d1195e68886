"""Edit sessions cut from two versions of a small set of files (local strings, no network)."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import pytest

from codefill.jobs.bench.replay.histories import (
    EditSession,
    HistoryError,
    PackageHistory,
    Release,
    fetch,
    load_histories,
    read_sources,
    select,
    sessions_between,
    sha256_of,
)

OLD = {
    "pkg/shapes.py": "import math\n\n\ndef area(r):\n    return math.pi * r * r\n",
    "pkg/util.js": "function add(a, b) {\n  return a + b;\n}\n",
    "README.md": "old\n",
}
NEW = {
    "pkg/shapes.py": ("import math\n\n\ndef area(r):\n    return math.pi * r * r\n\n\n"
                      "def circumference(r):\n    return 2 * math.pi * r\n"),
    "pkg/util.js": "function add(a, b) {\n  const total = a + b;\n  return total;\n}\n",
    "README.md": "new, and not code\n",
}


def test_each_added_or_changed_block_is_typed_back_into_the_newer_file():
    sessions = sessions_between(OLD, NEW, "pkg 1->2")
    by_path = {s.path: s for s in sessions}
    assert set(by_path) == {"pkg/shapes.py", "pkg/util.js"}  # markdown is not a language we type
    py = by_path["pkg/shapes.py"]
    assert py.language == "python"
    assert py.text == "def circumference(r):\n    return 2 * math.pi * r"
    assert py.final == NEW["pkg/shapes.py"]
    assert py.after == "\n" and py.before.endswith("r * r\n\n\n")  # the cursor on an empty line of its own
    js = by_path["pkg/util.js"]
    assert js.language == "javascript"
    assert js.text == "const total = a + b;\n  return total;"
    assert js.before.endswith("{\n  ")  # indented as the block's first line, as an editor would
    assert js.final == NEW["pkg/util.js"]


def test_long_blocks_are_cut_at_max_chars_and_tiny_ones_left_out():
    new = {"a.py": "x = 1\n" + "".join(f"value_{i} = compute({i})\n" for i in range(30)) + ")\n"}
    old = {"a.py": "x = 1\n"}
    (s,) = sessions_between(old, new, "a", max_chars=100)
    assert len(s.text) <= 100 and s.text.startswith("value_0 = compute(0)")
    assert s.final == new["a.py"]  # the rest of the block stays after the cursor
    assert sessions_between({"b.py": "x = 1\n"}, {"b.py": "x = 1\n)\n"}, "b") == []


def test_selection_is_deterministic_and_takes_languages_and_packages_in_turn():
    base = EditSession(id="", path="f.py", language="python", before="", text="x", after="")
    sessions = [dataclasses.replace(base, id=f"{p}{i}", package=p, language=lang)
                for p, lang in (("a", "python"), ("b", "python"), ("c", "javascript")) for i in range(6)]
    picked = select(sessions, limit=6, seed=3)
    assert picked == select(list(reversed(sessions)), limit=6, seed=3)
    assert [s.language for s in picked] == ["javascript", "python"] * 3
    assert {s.package for s in picked if s.language == "python"} == {"a", "b"}
    assert select(sessions, limit=6, seed=4) != picked
    assert {s.language for s in select(sessions, limit=None, seed=0, languages=["python"])} == {"python"}


def _tarball(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"pkg-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_sources_are_read_from_an_sdist_below_its_top_folder(tmp_path):
    archive = tmp_path / "pkg-1.0.tar.gz"
    _tarball(archive, {**NEW, "dist/app.min.js": "x", "pkg/crlf.py": "a = 1\r\nb = 2\r\n"})
    files = read_sources(archive)
    assert set(files) == {"pkg/shapes.py", "pkg/util.js", "pkg/crlf.py"}
    assert files["pkg/crlf.py"] == "a = 1\nb = 2\n"


def test_a_cached_artifact_is_checked_against_its_pin(tmp_path):
    archive = tmp_path / "pypi" / "pkg-1.0.tar.gz"
    archive.parent.mkdir()
    _tarball(archive, OLD)
    good = PackageHistory("pkg", "pypi", (Release("1.0", archive.name, sha256_of(archive)),))
    assert fetch(good, good.releases[0], tmp_path) == archive
    bad = PackageHistory("pkg", "pypi", (Release("1.0", archive.name, "0" * 64),))
    with pytest.raises(HistoryError, match="not the pinned"):
        fetch(bad, bad.releases[0], tmp_path)


def test_a_download_that_cannot_happen_says_so(tmp_path):
    odd = PackageHistory("pkg", "cpan", (Release("1.0", "pkg-1.0.tar.gz", "0" * 64),))
    with pytest.raises(HistoryError, match="unknown registry"):
        fetch(odd, odd.releases[0], tmp_path)


def test_the_pinned_histories_name_consecutive_versions_with_checksums():
    histories = load_histories()
    assert {h.registry for h in histories} == {"pypi", "npm"}
    for h in histories:
        assert len(h.releases) >= 2
        assert all(len(r.sha256) == 64 and r.version in r.file for r in h.releases)
