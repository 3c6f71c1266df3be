"""What an encoder is made of: the settings every artifact records and rebuilds an encoder from.

Imported by the command line's option definitions: no numpy, torch or transformers here.
"""

from __future__ import annotations

from typing import Literal, get_args

Precision = Literal["auto", "float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
