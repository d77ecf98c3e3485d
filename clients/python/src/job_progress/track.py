"""``track``: progress for a loop, like tqdm's."""

from __future__ import annotations

from typing import Iterable, Iterator, TypeVar

from .job import Job

T = TypeVar("T")


def track(iterable: Iterable[T], job: Job, *, total: int | None = None) -> Iterator[T]:
    """Yields the items of ``iterable``, counting each one done as a success
    of ``job`` once the loop's body has run for it.

    ``total`` (else ``len(iterable)`` when it has one) revises the job's
    total. An item whose body raises is not counted; the exception goes on.
    """
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    if total is not None:
        job.set_total(total)
    for item in iterable:
        yield item
        job.advance(1)
