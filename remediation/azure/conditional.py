"""conditional_put: the one read-modify-write helper (If-Match with the etag read, re-read on 412).

ARM PUTs replace the whole resource, so a PUT built from a stale read can undo someone else's write. Where
the resource provider enforces If-Match, a 412 PreconditionFailed says exactly that; the answer is to
read again and rebuild the body from the fresh read (docs/arm-notes.md 3.2). After `attempts` refusals the
TransientError goes to the caller's retries (tenacity, then the queue).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from remediation.core.errors import TransientError

log = logging.getLogger(__name__)

S = TypeVar("S")
R = TypeVar("R")

PRECONDITION_ATTEMPTS = 3


def conditional_put(
    *,
    what: str,
    read: Callable[[], tuple[S, str | None]],
    write: Callable[[S, str | None], R],
    known: tuple[S, str | None] | None = None,
    attempts: int = PRECONDITION_ATTEMPTS,
) -> R:
    """`write(state, etag)` with the state and etag from `read()` (or `known`, a read the caller already
    made: no second GET); on 412 read again and write again, at most `attempts` times."""
    state, etag = known if known is not None else read()
    for attempt in range(1, attempts + 1):
        try:
            return write(state, etag)
        except TransientError as err:
            if err.arm_code != "PreconditionFailed" or attempt == attempts:
                raise
            log.info("%s changed since it was read (412); re-reading", what)
            state, etag = read()
    raise AssertionError("unreachable")  # the loop returns or raises
