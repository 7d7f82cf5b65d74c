"""Small file operations on any Hadoop filesystem (local, ``hdfs://``, ``s3a://``, ...).

They go through the JVM's ``org.apache.hadoop.fs.FileSystem`` of the running SparkSession, so
whatever filesystem Spark can read and write, the artifact code can manage too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

HIDDEN_PREFIXES = ("_", ".")
#: URI schemes of object stores: a directory rename there is a copy and delete per object, and
#: the only atomic step is writing one whole object
OBJECT_STORE_SCHEMES = frozenset({"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs",
                                  "oss", "cos", "cosn", "obs", "r2"})


def local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI or a plain path, else ``None``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "":
        return uri
    return None


def is_object_store(uri: str) -> bool:
    """Whether ``uri`` lives on an object store (see :data:`OBJECT_STORE_SCHEMES`)."""
    return urlparse(uri).scheme.lower() in OBJECT_STORE_SCHEMES


def file_digest(path: Path | str, algorithm: str = "sha256"):
    """The ``hashlib`` digest of a local file, read in 1 MiB chunks.

    Parameters
    ----------
    path : Path or str
        File to hash.
    algorithm : str
        A ``hashlib`` algorithm name.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a local file (64 hex digits)."""
    return file_digest(path).hexdigest()


@dataclass(frozen=True)
class FileInfo:
    """One file found under a path."""

    path: str
    size: int
    mtime: int


class HadoopFS:
    """Thin wrapper over Hadoop's FileSystem API for one SparkSession.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session whose Hadoop configuration (credentials, default filesystem) is used.
    """

    def __init__(self, spark) -> None:
        self._jvm = spark.sparkContext._jvm
        self._gateway = spark.sparkContext._gateway
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(path)

    def _local(self, path: str):
        return self._jvm.org.apache.hadoop.fs.Path(Path(path).resolve().as_uri())

    def _fs(self, path: str):
        return self._path(path).getFileSystem(self._conf)

    def qualify(self, path: str) -> str:
        """Return ``path`` fully qualified (scheme and absolute path)."""
        p = self._path(path)
        return str(p.getFileSystem(self._conf).makeQualified(p).toString())

    def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return bool(self._fs(path).exists(self._path(path)))

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is an existing directory."""
        fs, p = self._fs(path), self._path(path)
        return bool(fs.exists(p) and fs.getFileStatus(p).isDirectory())

    def mkdirs(self, path: str) -> None:
        """Create ``path`` and its parents."""
        self._fs(path).mkdirs(self._path(path))

    def delete(self, path: str) -> None:
        """Delete ``path`` recursively, if it exists."""
        self._fs(path).delete(self._path(path), True)

    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst`` (atomic on HDFS and local filesystems)."""
        if not self._fs(src).rename(self._path(src), self._path(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def modified(self, path: str) -> float:
        """Modification time of ``path`` in seconds since the epoch."""
        return int(self._fs(path).getFileStatus(self._path(path)).getModificationTime()) / 1e3

    def list_names(self, path: str) -> list[str]:
        """Names of the entries directly under ``path`` (empty if it does not exist)."""
        fs, p = self._fs(path), self._path(path)
        if not fs.exists(p):
            return []
        return sorted(str(s.getPath().getName()) for s in fs.listStatus(p))

    def glob(self, pattern: str) -> list[str]:
        """Qualified paths matching a glob (``[]`` when nothing matches)."""
        statuses = self._fs(pattern).globStatus(self._path(pattern))
        return sorted(str(s.getPath().toString()) for s in statuses) if statuses else []

    def list_files(self, path: str) -> list[FileInfo]:
        """Data files at or under ``path``, skipping hidden ``_``/``.`` names as Spark does."""
        fs, p = self._fs(path), self._path(path)
        status = fs.getFileStatus(p)
        if status.isFile():
            return [FileInfo(str(status.getPath().toString()), int(status.getLen()),
                             int(status.getModificationTime()))]
        out = []
        it = fs.listFiles(p, True)
        base = str(status.getPath().toString()).rstrip("/") + "/"
        while it.hasNext():
            s = it.next()
            full = str(s.getPath().toString())
            rel = full[len(base):] if full.startswith(base) else full
            if any(part.startswith(HIDDEN_PREFIXES) for part in rel.split("/")):
                continue
            out.append(FileInfo(full, int(s.getLen()), int(s.getModificationTime())))
        return sorted(out, key=lambda f: f.path)

    def read_bytes(self, path: str) -> bytes:
        """The whole content of a (small) file."""
        stream = self._fs(path).open(self._path(path))
        try:
            buf = self._jvm.java.io.ByteArrayOutputStream()
            self._jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buf, 65536, False)
            return bytes(buf.toByteArray())
        finally:
            stream.close()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a small file, replacing any previous one."""
        out = self._fs(path).create(self._path(path), True)
        try:
            out.write(bytearray(data))
        finally:
            out.close()

    def put(self, local: str, path: str) -> None:
        """Copy a local file to ``path`` (replacing it), streaming inside the JVM."""
        self._fs(path).copyFromLocalFile(False, True, self._local(local), self._path(path))

    def get(self, path: str, local: str) -> None:
        """Copy ``path`` to a local file, streaming inside the JVM."""
        self._fs(path).copyToLocalFile(False, self._path(path), self._local(local), True)

    def copy(self, src: str, dst: str) -> None:
        """Copy a file or a directory tree to ``dst`` (on any pair of Hadoop filesystems)."""
        util = self._jvm.org.apache.hadoop.fs.FileUtil
        if not util.copy(self._fs(src), self._path(src), self._fs(dst), self._path(dst),
                         False, True, self._conf):
            raise OSError(f"could not copy {src} to {dst}")

    def _on_disk(self, path: str) -> str | None:
        """The local path of ``path`` when its filesystem is the local one, else ``None``
        (a path without a scheme is qualified first: it may be on ``fs.defaultFS``)."""
        if urlparse(path).scheme == "":
            path = self.qualify(path)
        return local_path(path) if urlparse(path).scheme == "file" else None

    def renames_atomically(self, path: str) -> bool:
        """Whether a directory rename under ``path`` is one atomic step (not on object
        stores, where it is a copy and delete per object)."""
        return not is_object_store(self.qualify(path))

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create ``path`` with ``data`` only if it does not exist; ``False`` if it did.

        Exclusive on local disks (``O_CREAT | O_EXCL``) and on HDFS (the NameNode refuses a
        second create); on object stores only where the store supports conditional writes
        (see ``docs/filesystems.md``). The content appears whole: locally it is written to
        a temporary file and hard-linked into place.
        """
        local = self._on_disk(path)
        if local is not None:
            tmp = f"{local}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            os.makedirs(os.path.dirname(local) or ".", exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, local)  # fails if ``local`` exists: the exclusive step
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        fs, p = self._fs(path), self._path(path)
        try:
            out = fs.create(p, False)
        except Exception as exc:  # FileAlreadyExistsException, through py4j
            if "FileAlreadyExists" in str(exc) or fs.exists(p):
                return False
            raise
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return True

    def replace_atomic(self, path: str, data: bytes, tmp_suffix: str) -> None:
        """Write ``data`` to a temporary sibling, then rename it over ``path``.

        Unlike :meth:`write_atomic` the target may exist. Local files are replaced with
        POSIX ``rename(2)`` (Hadoop's local filesystem deletes the target first, and moves
        the ``.crc`` side file in another step); on HDFS the rename with ``OVERWRITE`` is one
        NameNode operation; on object stores one whole-object write is the atomic step.
        Either way a reader sees the old or the new content, never neither.
        """
        local = self._on_disk(path)
        if local is not None:
            tmp = f"{local}.{tmp_suffix}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            crc = os.path.join(os.path.dirname(local), f".{os.path.basename(local)}.crc")
            if os.path.exists(crc):  # a stale checksum would make Hadoop refuse new bytes
                os.unlink(crc)
            os.replace(tmp, local)
            return
        if not self.renames_atomically(path):
            self.write_bytes(path, data)
            return
        tmp = f"{path}.{tmp_suffix}.tmp"
        self.write_bytes(tmp, data)
        jvm = self._jvm
        ctx = jvm.org.apache.hadoop.fs.FileContext.getFileContext(self._path(path).toUri(),
                                                                  self._conf)
        rename = getattr(jvm.org.apache.hadoop.fs, "Options$Rename")
        opts = self._gateway.new_array(rename, 1)
        opts[0] = rename.OVERWRITE
        ctx.rename(self._path(tmp), self._path(path), opts)

    def write_atomic(self, path: str, data: bytes, tmp_suffix: str) -> None:
        """Write ``data`` to a temporary sibling, then rename it onto ``path``.

        Readers see either no file or the whole file, never a partial one (on object stores
        the one write of the whole object is that step, without a rename).
        """
        if not self.renames_atomically(path):
            self.write_bytes(path, data)
            return
        local = self._on_disk(path)
        if local is not None:  # one rename(2), without Hadoop's separate .crc step
            tmp = f"{local}.{tmp_suffix}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.rename(tmp, local)
            return
        tmp = f"{path}.{tmp_suffix}.tmp"
        self.write_bytes(tmp, data)
        self.rename(tmp, path)


def has_glob(path: str) -> bool:
    """Whether ``path`` contains Hadoop glob characters."""
    return any(c in path for c in "*?[{")


def glob_base(path: str) -> str:
    """The longest leading directory of ``path`` that holds no glob character."""
    parts = path.split("/")
    keep = []
    for part in parts:
        if has_glob(part):
            break
        keep.append(part)
    return "/".join(keep) or "."


def matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether a file name matches one of the shell patterns."""
    return any(fnmatch.fnmatch(name, pat) for pat in patterns)
