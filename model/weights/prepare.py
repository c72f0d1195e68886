"""Pre-warm the model cache: `python -m codefill.model.weights.prepare [--model SPEC] [--tiny]`.

`codefill prepare` under another name, with `--quiet`, for the setup script,
Docker builds and CI (and the fix hints of codefill.model.weights.embedded): assembles, verifies
and converts the embedded model (or `--model`), optionally builds the tiny test
model, prints the folders and how long each step took. A second run is instant. `prepare` is the one code
path; it lives here, not in codefill.commands.cli, because model code never imports server code.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time


def prepare(spec: str | None, tiny: bool = False, progress: bool = True) -> None:
    """Resolve `spec` into the cache (and build the tiny test model with `tiny`); print where
    each is, how long it took, and when a hub id leaves nothing to prepare here."""
    from codefill.model.weights.paths import codefill_home
    from codefill.model.weights.resolve import resolve_model

    print(f"[codefill] cache: {codefill_home()}", file=sys.stderr)
    start = time.monotonic()
    resolved = resolve_model(spec, progress=progress)
    if resolved.source == "hub":
        print(f"nothing to prepare: {resolved.path_or_id!r} is a hub id, which vLLM/transformers "
              "download when serving (that needs network access)")
    else:
        print(f"model ready ({resolved.source}, served as {resolved.served_name!r}, "
              f"{time.monotonic() - start:.1f}s): {resolved.path_or_id}")
    if tiny:
        from codefill.model.weights.tiny import tiny_model_dir

        start = time.monotonic()
        path = tiny_model_dir()
        print(f"tiny test model ready ({time.monotonic() - start:.1f}s): {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codefill.model.weights.prepare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="model spec as for `codefill serve` (default: the embedded model)")
    parser.add_argument("--tiny", action="store_true", help="also build the tiny random test model")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        prepare(args.model, tiny=args.tiny, progress=not args.quiet)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear sentence for scripts, not a traceback
        print(f"codefill.model.weights.prepare: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
