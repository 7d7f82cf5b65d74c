"""What every latentspark Spark task does first in its Python worker.

PySpark's daemon runs a full ``gc.collect()`` in a reused Python worker after each of its
tasks, and the JVM's next task for that worker waits until it is done. A worker that has
loaded numpy, pyarrow and the compiled numba kernels tracks about 165,000 objects, and
walking them all took 120 ms on the 2-core machine
(``benchmarks/results/task_overhead_gc.md``): between every two tasks, which is most of a
small task's wall time. Those objects are modules, functions and compiled kernels that live
as long as the worker. :func:`settle` moves them into the collector's permanent generation
(:func:`gc.freeze`), so that the collection after each task walks only what later tasks
create. With it a job of 16 small tasks took 0.44x the time
(``benchmarks/results/task_overhead.md``).

Every ``mapInArrow`` function of the package is wrapped by :func:`arrow_task`;
``tests/test_workers.py`` checks that no call site is missed. ``LATENTSPARK_WORKER_FREEZE=0``
in the environment of the workers turns it off.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: the environment variable that turns freezing off when it is "0"
SWITCH = "LATENTSPARK_WORKER_FREEZE"
#: how many modules the worker had loaded when it last froze its objects (0: never)
_frozen_at_modules = 0


def settle() -> bool:
    """Freeze the worker's live objects when it has loaded modules since it last did.

    Called at the start of a task: the daemon's collection after the previous task has just
    run, so what is alive now is what the worker keeps (modules, kernels, broadcast values).
    Frozen objects are still freed by reference counting; only a reference cycle among
    them would outlive its use, and freezing only when new modules appeared (a handful of
    times in a worker's life, not once per task) keeps that bounded.

    Returns
    -------
    bool
        Whether it froze (new modules since the last time).

    Examples
    --------
    >>> import gc
    >>> _ = settle()
    >>> settle(), gc.get_freeze_count() > 0
    (False, True)
    """
    global _frozen_at_modules
    loaded = len(sys.modules)
    if loaded == _frozen_at_modules or os.environ.get(SWITCH) == "0":
        return False
    gc.freeze()
    _frozen_at_modules = loaded
    return True


def arrow_task(fn: Callable[[Iterable[T]], Iterator[T]]) -> Callable[[Iterable[T]], Iterator[T]]:
    """``fn`` (a ``mapInArrow`` function) that calls :func:`settle` before it starts.

    Parameters
    ----------
    fn : callable
        ``fn(batches) -> iterator of record batches``.

    Returns
    -------
    callable
        The same function of the batches, for ``DataFrame.mapInArrow``.

    Examples
    --------
    >>> double = arrow_task(lambda batches: (2 * b for b in batches))
    >>> list(double([1, 2]))
    [2, 4]
    """

    @functools.wraps(fn)
    def run(batches: Iterable[T]) -> Iterator[T]:
        settle()
        yield from fn(batches)

    return run
