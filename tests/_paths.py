"""Where the project's shared reference material lives (fixtures, the seed document).

CI clones the repository with ``shared/`` beside it; ``HAFS_SHARED_DIR`` overrides that.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    explicit = os.environ.get("HAFS_SHARED_DIR")
    candidates = [Path(explicit)] if explicit else []
    candidates += [REPO.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "fixtures").is_dir():
            return candidate
    raise RuntimeError(
        "cannot find the shared reference material (fixtures/, seed/): looked in "
        + ", ".join(str(c) for c in candidates)
        + "; set HAFS_SHARED_DIR"
    )


SHARED = _shared()
FIXTURES = SHARED / "fixtures"
SEED = SHARED / "seed" / "provider-system.md"
