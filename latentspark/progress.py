"""Progress lines for long Spark stages, in place of Spark's console progress bar.

A daemon thread polls ``SparkContext.statusTracker()`` once a second. A stage that has run for
``interval`` seconds gets a line every ``interval`` seconds while it runs, and every stage that
ran at least :data:`MIN_SECONDS` gets one line when it ends::

    vocab: count_words | stage 3: 6/8 tasks, 2.4M rows in 12 s (200k rows/s), ETA 4 s
    vocab: count_words | stage 3 done: 8 tasks, 3.2M rows in 16 s (200k rows/s)

The rows are the stage's input records (read from files) or, for a stage after a shuffle, its
shuffle records read, from Spark's status store; they grow as tasks finish (and with the
executors' heartbeats). The ETA extrapolates the completed tasks' pace to the remaining ones.
The label is the step being timed (:meth:`latentspark.artifacts.Staging.timed`), set with
:func:`step`. Lines go to the ``latentspark.progress`` logger (stderr, as configured by the
command line; ``-q`` hides them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: a stage that ended sooner prints nothing
MIN_SECONDS = 2.0
POLL_SECONDS = 1.0

_label = ""
_started: set[int] = set()  # id() of the SparkContexts watched
_lock = threading.Lock()


@contextmanager
def step(label: str) -> Iterator[None]:
    """Name the work that the stages started inside the block belong to."""
    global _label
    previous, _label = _label, label
    try:
        yield
    finally:
        _label = previous


def human(n: float) -> str:
    """A count with a k/M/G suffix.

    Examples
    --------
    >>> human(950), human(12_345), human(2_400_000)
    ('950', '12.3k', '2.4M')
    """
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


@dataclass
class _Stage:
    label: str
    first_seen: float
    last_line: float


def line(label: str, stage: int, done: int, tasks: int, rows: int, seconds: float,
         finished: bool) -> str:
    """One progress line.

    Examples
    --------
    >>> line("vocab: count", 3, 6, 8, 2_400_000, 12.0, False)
    'vocab: count | stage 3: 6/8 tasks, 2.4M rows in 12 s (200.0k rows/s), ETA 4 s'
    >>> line("", 4, 8, 8, 0, 3.0, True)
    'stage 4 done: 8 tasks in 3 s'
    """
    head = f"{label} | stage {stage}" if label else f"stage {stage}"
    work = f"{human(rows)} rows in {seconds:.0f} s ({human(rows / seconds)} rows/s)" \
        if rows and seconds > 0 else f"in {seconds:.0f} s"
    if finished:
        return f"{head} done: {tasks} tasks{', ' if rows else ' '}{work}"
    eta = f", ETA {seconds * (tasks - done) / done:.0f} s" if done else ""
    return f"{head}: {done}/{tasks} tasks, {work}{eta}"


def start(spark, interval: float) -> threading.Thread | None:
    """Watch the stages of ``spark``'s context from a daemon thread (once per context).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    interval : float
        Seconds between the lines of a running stage; 0 or less turns progress off.

    Returns
    -------
    threading.Thread or None
        The watcher, or ``None`` when off or already watching.
    """
    sc = spark.sparkContext
    with _lock:
        if interval <= 0 or id(sc) in _started:
            return None
        _started.add(id(sc))
    thread = threading.Thread(target=_watch, args=(sc, interval), name="latentspark-progress",
                              daemon=True)
    thread.start()
    return thread


def _rows(store, stage: int) -> int:
    """Records the stage has read so far (input, else shuffle), 0 if Spark cannot say."""
    if store is None:
        return 0
    try:
        data = store.lastStageAttempt(stage)
        return int(data.inputRecords()) or int(data.shuffleReadRecords())
    except Exception:  # noqa: BLE001 - the status store is Spark's internal API: best effort
        return 0


def _watch(sc, interval: float) -> None:
    tracker = sc.statusTracker()
    try:  # Spark's status store (private API) knows the records; without it, tasks only
        store = sc._jsc.sc().statusStore()
    except Exception:  # noqa: BLE001
        store = None
    running: dict[int, _Stage] = {}
    last_info: dict[int, tuple[int, int]] = {}
    while True:
        time.sleep(POLL_SECONDS)
        try:
            if sc._jsc is None:  # the context was stopped
                return
            active = set(tracker.getActiveStageIds())
            now = time.monotonic()
            for sid in active:
                info = tracker.getStageInfo(sid)
                if info is None:
                    continue
                st = running.setdefault(sid, _Stage(_label, now, now))
                last_info[sid] = (info.numCompletedTasks, info.numTasks)
                if now - st.last_line >= interval:
                    st.last_line = now
                    logger.info(line(st.label, sid, info.numCompletedTasks, info.numTasks,
                                     _rows(store, sid), now - st.first_seen, False))
            for sid in [s for s in running if s not in active]:
                st = running.pop(sid)
                _, tasks = last_info.pop(sid, (0, 0))
                if now - st.first_seen >= MIN_SECONDS:
                    logger.info(line(st.label, sid, tasks, tasks, _rows(store, sid),
                                     now - st.first_seen, True))
        except Exception:  # noqa: BLE001 - the JVM went away (shutdown): stop watching
            return
