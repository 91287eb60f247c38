"""Chunks computed by any executor, taken back in restart order: the one loop behind
`--workers N` (a local process pool) and `--executor dask` (a Dask cluster)."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Iterator


def in_order(
    pending: Iterable[list[int]],
    width: int,
    submit: Callable[[list[int]], object],
    result: Callable[[object, list[int]], list[dict]],
) -> Iterator[tuple[list[int], list[dict]]]:
    """(indices, records) of every chunk of `pending`, in its order.

    At most `width` chunks are in flight (memory stays bounded however many a run has); each is
    taken back by `result(future, indices)` in submission order, never in completion order, so
    the records are written in restart order whatever finishes first. A chunk's records depend
    on its restarts only, so they are the serial run's.
    """
    pending = iter(pending)
    window = collections.deque(
        (indices, submit(indices)) for indices in itertools.islice(pending, width)
    )
    while window:
        indices, future = window.popleft()
        records = result(future, indices)
        following = next(pending, None)
        if following is not None:
            window.append((following, submit(following)))
        yield indices, records
