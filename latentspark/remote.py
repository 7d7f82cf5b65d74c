"""File transfer from inside Spark's Python workers, where the JVM's Hadoop API is out of reach.

The driver manages the run root through :class:`latentspark.fs.HadoopFS`; executors move index
files to and from it with pyarrow's filesystems, which cover local paths (``file:``), HDFS
(``hdfs://``, through libhdfs) and S3 (``s3://``, and Hadoop's ``s3a://`` spelling).

pyarrow does not read Hadoop's configuration, so the driver hands the workers what they need
to reach the same buckets as the JVM: :func:`options_from_spark` takes the ``fs.s3a.*``
settings of the session (credentials, endpoint, region, path-style access, TLS) and
:func:`resolve` turns them into pyarrow's ``S3FileSystem`` arguments. Without them pyarrow
falls back to its own credential chain (environment, instance profile).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlparse

#: ``fs.s3a.*`` setting -> pyarrow ``S3FileSystem`` argument
S3A_SETTINGS = {
    "fs.s3a.access.key": "access_key",
    "fs.s3a.secret.key": "secret_key",
    "fs.s3a.session.token": "session_token",
    "fs.s3a.endpoint": "endpoint_override",
    "fs.s3a.endpoint.region": "region",
    "fs.s3a.path.style.access": "force_virtual_addressing",
    "fs.s3a.connection.ssl.enabled": "scheme",
}


def options_from_spark(spark) -> dict[str, str]:
    """The ``fs.s3a.*`` settings of a session's Hadoop configuration that pyarrow needs.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession

    Returns
    -------
    dict
        Hadoop key to value, only for the keys that are set; picklable, for the tasks.
    """
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    out = {}
    for key in S3A_SETTINGS:
        value = conf.get(key)
        if value is not None and str(value) != "":
            out[key] = str(value)
    return out


def s3_arguments(options: dict[str, str]) -> dict[str, Any]:
    """pyarrow ``S3FileSystem`` keyword arguments from ``fs.s3a.*`` settings.

    >>> s3_arguments({"fs.s3a.endpoint": "http://127.0.0.1:9000",
    ...               "fs.s3a.path.style.access": "true"})
    {'endpoint_override': '127.0.0.1:9000', 'force_virtual_addressing': False, 'scheme': 'http'}
    """
    args: dict[str, Any] = {}
    for key, value in options.items():
        name = S3A_SETTINGS.get(key)
        if name == "force_virtual_addressing":
            args[name] = value.strip().lower() != "true"
        elif name == "scheme":
            args[name] = "https" if value.strip().lower() != "false" else "http"
        elif name is not None:
            args[name] = value
    endpoint = args.get("endpoint_override", "")
    if "://" in endpoint:  # as S3A does, a scheme in the endpoint wins over ssl.enabled
        args["scheme"], args["endpoint_override"] = endpoint.split("://", 1)
    return args


def resolve(uri: str, options: dict[str, str] | None = None):
    """The pyarrow filesystem and path of a run-root URI (``options``: ``fs.s3a.*`` settings
    of the driver, see :func:`options_from_spark`)."""
    from pyarrow import fs as pafs

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return pafs.LocalFileSystem(), unquote(parsed.path) if parsed.scheme else uri
    if parsed.scheme in ("s3a", "s3"):  # s3a is Hadoop's name for the same buckets
        return (pafs.S3FileSystem(**s3_arguments(options or {})),
                f"{parsed.netloc}{unquote(parsed.path)}")
    return pafs.FileSystem.from_uri(uri)


def upload(local: str, uri: str, options: dict[str, str] | None = None) -> None:
    """Copy a local file to ``uri`` (replacing it), creating its parent folders."""
    from pyarrow import fs as pafs

    fs, path = resolve(uri, options)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pafs.copy_files(local, path, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=fs)


def download(uri: str, local: str, options: dict[str, str] | None = None) -> None:
    """Copy ``uri`` to a local file through a temporary sibling, so a reader of ``local`` in
    another process never sees a partial copy."""
    from pyarrow import fs as pafs

    fs, path = resolve(uri, options)
    tmp = f"{local}.{os.getpid()}.part"
    pafs.copy_files(path, tmp, source_filesystem=fs,
                    destination_filesystem=pafs.LocalFileSystem())
    os.replace(tmp, local)
