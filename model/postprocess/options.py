from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PostprocessOptions:
    enabled: bool = True
    multiline: bool | None = None  # None: decide from the text around the cursor
