"""Named exceptions: every failure a user can cause has its own class and a message that
names the file, key or value at fault, so that jobs can map them to exit codes."""

from __future__ import annotations


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
