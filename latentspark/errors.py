"""Named exceptions: every failure a user can cause has its own class and a message that
names the file, key or value at fault, so that jobs can map them to exit codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager


class LatentSparkError(Exception):
    """Base class of all errors raised deliberately by latentspark."""

    #: process exit code that a job returns for this class of error
    exit_code = 1


class ConfigError(LatentSparkError, ValueError):
    """A configuration key is unknown, of the wrong type or out of range."""

    exit_code = 2


class InputError(LatentSparkError, ValueError):
    """The corpus or another input is missing, empty, corrupt or lacks a column."""

    exit_code = 3


class DataFetchError(LatentSparkError):
    """A download failed, or a fetched file does not match its pinned checksum."""

    exit_code = 4


class ArtifactError(LatentSparkError):
    """A published artifact is missing, incomplete or does not match its manifest."""

    exit_code = 5


class GateError(LatentSparkError):
    """A new model version failed the quality gate; LATEST still points at the previous one."""

    exit_code = 6


class InfrastructureError(LatentSparkError):
    """Spark, the cluster or a filesystem failed; the run can be retried as it is."""

    exit_code = 7


class UnknownWordError(LatentSparkError, KeyError):
    """A word is not in the vocabulary of the embeddings asked about (a :class:`KeyError`, as
    gensim's ``KeyedVectors`` raises)."""

    exit_code = 3

    def __init__(self, word: str, where: str = "the vocabulary") -> None:
        super().__init__(f"word {word!r} is not in {where}")
        self.word = word

    def __str__(self) -> str:
        # KeyError would print the repr of the message, quotes and all
        return str(self.args[0])


class LockedError(LatentSparkError):
    """Another run holds the run root's lease; nothing was changed (retry later)."""

    #: ``EX_TEMPFAIL`` of ``sysexits.h``: schedulers read it as "try again later"
    exit_code = 75


@contextmanager
def spark_errors(what: str) -> Iterator[None]:
    """Turn a Spark job failure caused by bad input into an :class:`InputError`.

    Spark reports a corrupt file or a record rejected by the corpus reader deep inside a
    Java stack trace; this finds the file and the reason and says them in one line.

    Parameters
    ----------
    what : str
        What was being read (``"corpus PATH"``), the start of the message.
    """
    try:
        yield
    except LatentSparkError:
        raise
    except Exception as exc:
        text = str(exc)
        bad = re.search(r"BAD_INPUT: ([^\n]*?)(?:\s+SQLSTATE|\n|$)", text)
        if bad:
            raise InputError(f"{what}: {bad.group(1).strip()}") from None
        failed = re.search(r"(?:while reading file|FAILED_READ_FILE[^\n]*?file) (\S+?)\.?\s", text)
        if failed:
            causes = re.findall(r"Caused by: ([^\n]+)", text)
            cause = causes[-1].strip() if causes else "the file is corrupt or truncated"
            raise InputError(f"{what}: cannot read {failed.group(1)}: {cause}") from None
        raise


#: every exit code of the ``latentspark`` command and the jobs, with its meaning
EXIT_CODES: dict[int, str] = {
    0: "success (or already up to date)",
    LatentSparkError.exit_code: "unexpected failure (a bug)",
    ConfigError.exit_code: "bad configuration",
    InputError.exit_code: "bad input (the message names the file, key or value)",
    DataFetchError.exit_code: "failed download",
    ArtifactError.exit_code: "missing or broken artifact",
    GateError.exit_code: "quality gate failed (the version is kept, LATEST unchanged)",
    InfrastructureError.exit_code: "infrastructure failure: Spark, the cluster or a "
                                   "filesystem (retry)",
    LockedError.exit_code: "another run holds the run root's lease; nothing changed (retry "
                           "later)",
}
