"""Exact and near-duplicate removal over any keyed texts (repository files, instruct samples).

Exact duplicates share the hash of their normalised text (line endings and
trailing whitespace do not make two files different). Near duplicates are
found with MinHash + LSH from `datasketch` at Jaccard similarity 0.5 over
word 5-gram shingles, with 128 permutations: the setting of StarCoder2-Instruct
("Self-Alignment for Code Generation", 2024) and The Stack's dedup.

The first text of each group, in the order given, is kept; the caller chooses
that order (sorted by path for a repository) and the result is deterministic
for a seed. Near duplicates are greedy: a text is compared with the texts
already kept, so a chain A~B~C with A and C dissimilar keeps A and C. An LSH
candidate only counts once its estimated Jaccard similarity reaches the
threshold, since banding alone lets through pairs well below it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from codefill.jobs.training.progress import progress

EXACT = "exact"
NEAR = "near"

DEFAULT_THRESHOLD = 0.5
DEFAULT_NUM_PERM = 128
DEFAULT_SHINGLE_WORDS = 5
DEFAULT_SEED = 42

# Identifiers, keywords and numbers: punctuation and layout carry little of
# what makes two pieces of code the same program.
_WORD = re.compile(r"\w+")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


@dataclass(frozen=True)
class Removed:
    key: str
    duplicate_of: str
    reason: str  # EXACT or NEAR
    similarity: float  # 1.0 for exact duplicates, else the estimated Jaccard similarity


@dataclass
class DedupResult:
    kept: list[str]
    removed: list[Removed]

    def count(self, reason: str) -> int:
        return sum(1 for r in self.removed if r.reason == reason)


def normalize_for_hash(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _TRAILING_SPACE.sub("", text).strip()


def exact_hash(text: str) -> str:
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8", "surrogatepass")).hexdigest()


def shingles(text: str, size: int = DEFAULT_SHINGLE_WORDS) -> set[bytes]:
    """Word n-grams of the text; a text shorter than n words is one shingle."""
    words = _WORD.findall(text)
    if len(words) <= size:
        return {" ".join(words).encode("utf-8", "surrogatepass")}
    return {" ".join(words[i:i + size]).encode("utf-8", "surrogatepass") for i in range(len(words) - size + 1)}


def minhash(text: str, *, num_perm: int = DEFAULT_NUM_PERM, seed: int = DEFAULT_SEED,
            shingle_words: int = DEFAULT_SHINGLE_WORDS) -> MinHash:
    m = MinHash(num_perm=num_perm, seed=seed)
    # Sorted, so the hash values never depend on set iteration order.
    m.update_batch(sorted(shingles(text, shingle_words)))
    return m


def deduplicate(
    items: Iterable[tuple[str, str]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    shingle_words: int = DEFAULT_SHINGLE_WORDS,
    seed: int = DEFAULT_SEED,
    near: bool = True,
    show_progress: bool = False,
) -> DedupResult:
    """Keys to keep and keys removed as duplicates, from (key, text) pairs; keys must be unique."""
    items = list(items)
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ValueError("deduplicate needs unique keys")

    kept_after_exact: list[tuple[str, str]] = []
    removed: list[Removed] = []
    first_with_hash: dict[str, str] = {}
    for key, text in items:
        digest = exact_hash(text)
        original = first_with_hash.setdefault(digest, key)
        if original != key:
            removed.append(Removed(key, original, EXACT, 1.0))
        else:
            kept_after_exact.append((key, text))
    if not near:
        return DedupResult([k for k, _ in kept_after_exact], removed)

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    order: dict[str, int] = {}
    sketches: dict[str, MinHash] = {}
    kept: list[str] = []
    for key, text in progress(kept_after_exact, show_progress, "near duplicates", unit="text"):
        sketch = minhash(text, num_perm=num_perm, seed=seed, shingle_words=shingle_words)
        best: tuple[float, int, str] | None = None
        for other in lsh.query(sketch):
            similarity = sketch.jaccard(sketches[other])
            if similarity >= threshold:
                # Most similar first; between equals, the one kept earliest, so
                # the answer never depends on the order LSH returns candidates.
                candidate = (-similarity, order[other], other)
                if best is None or candidate < best:
                    best = candidate
        if best is not None:
            removed.append(Removed(key, best[2], NEAR, -best[0]))
            continue
        order[key] = len(kept)
        sketches[key] = sketch
        lsh.insert(key, sketch)
        kept.append(key)
    return DedupResult(kept, removed)
