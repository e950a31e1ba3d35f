"""Large loads (10,000 templates) kept out of the garbage collector's way.

CPython's cyclic collector walks every tracked object in a full (generation 2) collection.
With 10,000 templates loaded, each full collection paused the console 110-135 ms, several
times a minute while typing in the filter. `gc.freeze()` moves what exists now into a
permanent generation that collections skip. Objects freed later by reference counting (the
models here hold no cycles) are still freed; only cyclic garbage that exists at the moment of
freezing is kept, which is why this runs once a load has finished, not per keystroke, and
never for a stream of small loads (History's pages: each freeze would keep its garbage).
"""

from __future__ import annotations

import gc


def settle_after_load() -> None:
    """Call when a large load has finished and its objects will live on."""
    gc.freeze()
