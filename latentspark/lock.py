"""One writer per run root: a lease file, renewed while the run lasts.

Layout::

    <root>/_lock/lease-<generation>     JSON: owner token, host, pid, command, expiry

The holder is the newest generation, if its lease has not expired. A run takes the root by
creating the next generation's file *exclusively* (:meth:`HadoopFS.create_exclusive`): two
runs that both find the root free race for the same file name and only one create succeeds.
An expired lease (or one whose process is gone, on this host) is broken the same way, by
creating the next generation: nothing is deleted, so a slow breaker can never remove a lease
that another run has just taken. A daemon thread rewrites the holder's lease before it
expires; a holder that finds a newer generation (it was paused past its expiry and someone
broke the lease) stops publishing (:meth:`Lease.check`).

Holding is re-entrant within a process, and covers the folders under the root: the pipeline
holds the run root, and each stage it runs finds the lease already held.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from latentspark.errors import LockedError
from latentspark.fs import HadoopFS

logger = logging.getLogger(__name__)

LOCK_DIR = "_lock"
_LEASE = re.compile(r"lease-(\d{12})$")


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@dataclass
class Lease:
    """A held lease on a run root (see :func:`hold`)."""

    fs: HadoopFS
    root: str
    generation: int
    token: str
    ttl: float
    body: dict[str, Any]
    depth: int = 1
    lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        """The lease file."""
        return f"{self.root}/{LOCK_DIR}/lease-{self.generation:012d}"

    def renew(self) -> None:
        """Push the expiry forward, unless another run has taken the root meanwhile."""
        newest = _generations(self.fs, self.root)
        if newest and newest[-1] > self.generation:
            self.lost = (f"lease {self.path} was broken by generation {newest[-1]} (this run "
                         "stalled past its expiry)")
            logger.error("%s", self.lost)
            return
        self.body["expires"] = time.time() + self.ttl
        self.body["expires_at"] = _stamp(self.body["expires"])
        self.fs.replace_atomic(self.path, json.dumps(self.body).encode(), self.token)

    def check(self) -> None:
        """Raise :class:`LockedError` if the lease was lost; called before publishing."""
        if self.lost is None:
            newest = _generations(self.fs, self.root)
            if newest and newest[-1] > self.generation:
                self.lost = f"lease {self.path} was broken by generation {newest[-1]}"
        if self.lost is not None:
            raise LockedError(f"run root {self.root}: {self.lost}; nothing more is published "
                              "by this run")

    def _keep_alive(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew()
            except Exception as exc:  # a failed renewal is retried; expiry is ttl away
                logger.warning("could not renew lease %s: %s", self.path, exc)
            if self.lost:
                return

    def release(self) -> None:
        """Stop renewing and mark the lease expired (the next run takes the next generation)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.lost:
            return
        try:
            self.body.update(expires=0, released_at=_stamp(time.time()))
            self.fs.replace_atomic(self.path, json.dumps(self.body).encode(), self.token)
            # older generations are history only the holder may clear
            for g in _generations(self.fs, self.root):
                if g < self.generation:
                    self.fs.delete(f"{self.root}/{LOCK_DIR}/lease-{g:012d}")
        except Exception as exc:  # the lease then expires on its own
            logger.warning("could not release lease %s: %s", self.path, exc)


#: leases this process holds, by qualified root
_HELD: dict[str, Lease] = {}
_HELD_LOCK = threading.RLock()


def _generations(fs: HadoopFS, root: str) -> list[int]:
    names = fs.list_names(f"{root}/{LOCK_DIR}")
    return sorted(int(m.group(1)) for n in names if (m := _LEASE.match(n)))


def _read(fs: HadoopFS, path: str) -> dict[str, Any] | None:
    try:
        return json.loads(fs.read_bytes(path))
    except Exception:  # being rewritten, or damaged: judged by its age instead
        return None


def holder(fs: HadoopFS, root: str) -> tuple[int, dict[str, Any] | None]:
    """The newest lease generation of ``root`` and its content if it is still live.

    Returns ``(0, None)`` when there never was a lease, ``(g, None)`` when generation ``g``
    expired (or its process is gone), ``(g, body)`` while it is held.
    """
    gens = _generations(fs, root)
    if not gens:
        return 0, None
    g = gens[-1]
    path = f"{root}/{LOCK_DIR}/lease-{g:012d}"
    body = _read(fs, path)
    now = time.time()
    if body is None:
        try:
            age = now - fs.modified(path)
        except Exception:
            return g, None
        # unreadable: live while it is younger than any sensible ttl
        return (g, {"owner": "?", "host": "?", "pid": 0, "expires": now + 1}) \
            if age < 60 else (g, None)
    if float(body.get("expires", 0)) <= now:
        return g, None
    if body.get("host") == socket.gethostname() and not pid_alive(int(body.get("pid", 0))):
        logger.warning("lease %s is held by pid %s on this host, which is gone: breaking it",
                       path, body.get("pid"))
        return g, None
    return g, body


def _try_take(fs: HadoopFS, root: str, ttl: float, command: str) -> Lease | str:
    g, live = holder(fs, root)
    if live is not None:
        return (f"run root {root} is locked by {live.get('owner', '?')} (host "
                f"{live.get('host')}, pid {live.get('pid')}, command {live.get('command')!r}, "
                f"since {live.get('acquired_at')}); the lease expires at "
                f"{live.get('expires_at')} unless that run renews it")
    token = secrets.token_hex(8)
    now = time.time()
    body = {"owner": f"{os.environ.get('USER', '?')}@{socket.gethostname()}:{os.getpid()}",
            "token": token, "host": socket.gethostname(), "pid": os.getpid(),
            "command": command, "acquired": now, "acquired_at": _stamp(now),
            "expires": now + ttl, "expires_at": _stamp(now + ttl), "generation": g + 1}
    lease = Lease(fs, root, g + 1, token, ttl, body)
    fs.mkdirs(f"{root}/{LOCK_DIR}")
    if not fs.create_exclusive(lease.path, json.dumps(body).encode()):
        return f"run root {root}: another run took the lease (generation {g + 1}) just now"
    # on stores without an exclusive create the last writer wins: read back to be sure
    back = _read(fs, lease.path)
    if back is None or back.get("token") != token:
        return f"run root {root}: another run took the lease (generation {g + 1}) just now"
    return lease


def _covering(root: str) -> Lease | None:
    for held_root, lease in _HELD.items():
        if root == held_root or root.startswith(held_root + "/"):
            return lease
    return None


@contextmanager
def hold(fs: HadoopFS, root: str, *, ttl: float = 600.0, wait: float = 0.0,
         command: str | None = None) -> Iterator[Lease]:
    """Hold the lease of ``root`` for the block (re-entrant; covers folders under ``root``).

    Parameters
    ----------
    fs : HadoopFS
    root : str
        The run root (or any folder that publishes), qualified.
    ttl : float
        Seconds a lease lives without renewal; a daemon thread renews it every ``ttl / 4``.
    wait : float
        Seconds to wait for a held lease before giving up; 0 refuses at once.
    command : str, optional
        What the holder is doing, shown to the runs it refuses.

    Raises
    ------
    LockedError
        The root is held by another live run (exit code 75).
    """
    root = root.rstrip("/")
    command = command or " ".join(os.path.basename(a) for a in sys.argv[:2])
    # the threads of one process share its lease (the pipeline counts parts in parallel):
    # the first takes it, the others join, the last to leave releases it
    with _HELD_LOCK:
        lease = _covering(root)
        if lease is None:
            lease = _take(fs, root, ttl, wait, command)
            _HELD[root] = lease
        lease.depth += 1
    try:
        yield lease
    finally:
        with _HELD_LOCK:
            lease.depth -= 1
            done = lease.depth == 0
            if done:
                _HELD.pop(lease.root, None)
        if done:
            lease.release()


def _take(fs: HadoopFS, root: str, ttl: float, wait: float, command: str) -> Lease:
    deadline = time.monotonic() + wait
    while True:
        got = _try_take(fs, root, ttl, command)
        if isinstance(got, Lease):
            break
        if time.monotonic() >= deadline:
            raise LockedError(got + ("" if not wait else f"; waited {wait:g} s"))
        logger.info("%s; waiting", got)
        time.sleep(min(5.0, max(0.2, deadline - time.monotonic())))
    got.depth = 0
    got._thread = threading.Thread(target=got._keep_alive, daemon=True,
                                   name=f"lease-{got.generation}")
    got._thread.start()
    logger.info("holding run root %s (lease generation %d)", root, got.generation)
    return got


def held(root: str) -> Lease | None:
    """The lease this process holds over ``root``, if any."""
    with _HELD_LOCK:
        return _covering(root.rstrip("/"))
