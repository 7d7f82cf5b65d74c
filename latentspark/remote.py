"""File transfer from inside Spark's Python workers, where the JVM's Hadoop API is out of reach.

The driver manages the run root through :class:`latentspark.fs.HadoopFS`; executors move index
files to and from it with pyarrow's filesystems, which cover local paths (``file:``), HDFS
(``hdfs://``, through libhdfs) and S3 (``s3://``, and Hadoop's ``s3a://`` spelling).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlparse


def resolve(uri: str):
    """The pyarrow filesystem and path of a run-root URI."""
    from pyarrow import fs as pafs

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return pafs.LocalFileSystem(), unquote(parsed.path) if parsed.scheme else uri
    if parsed.scheme == "s3a":  # Hadoop's name for the same buckets
        uri = "s3" + uri[len("s3a"):]
    return pafs.FileSystem.from_uri(uri)


def upload(local: str, uri: str) -> None:
    """Copy a local file to ``uri`` (replacing it), creating its parent folders."""
    from pyarrow import fs as pafs

    fs, path = resolve(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pafs.copy_files(local, path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs)


def download(uri: str, local: str) -> None:
    """Copy ``uri`` to a local file through a temporary sibling, so a reader of ``local`` in
    another process never sees a partial copy."""
    from pyarrow import fs as pafs

    fs, path = resolve(uri)
    tmp = f"{local}.{os.getpid()}.part"
    pafs.copy_files(path, tmp, source_filesystem=fs,
                    destination_filesystem=pafs.LocalFileSystem())
    os.replace(tmp, local)
