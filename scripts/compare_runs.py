"""Compare the published outputs of two run roots, file by file, by content.

    .venv/bin/python scripts/compare_runs.py RUN_ROOT_A RUN_ROOT_B

For each stage it takes the newest published version in both roots and compares the
SHA-256 of every data file (names aside: Spark's part files carry a random id), and the
evaluation's ``summary.json`` and ``report.md`` with the version names taken out (they name
the index version, which differs between runs by construction). Manifests are not compared:
they hold times and version names.

Parquet files written by Spark are not byte-reproducible between two JVMs even from the same
code: parquet-mr keeps each column chunk's encodings in a hash set, and the footer lists them
in that set's order. A Parquet file therefore counts as identical when its rows, schema,
key-value metadata and every column chunk's compressed size, codec and set of encodings are,
which leaves only that order free. Exit status 0 when everything is identical, 1 otherwise;
used to check that a refactoring changed no published output.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

STAGES = ("vocab", "cooccur", "embeddings", "index", "eval")
VERSION = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")


def newest(root: Path, stage: str) -> Path | None:
    versions = sorted(p for p in (root / stage).glob("*") if (p / "manifest.json").exists())
    return versions[-1] if versions else None


def _parquet_key(path: Path) -> bytes:
    """What identifies a Parquet file's content and layout, footer encoding order aside."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    meta = f.metadata
    chunks = [(c.path_in_schema, c.total_compressed_size, c.compression, sorted(c.encodings))
              for g in range(meta.num_row_groups) for c in
              (meta.row_group(g).column(i) for i in range(meta.num_columns))]
    table = f.read()
    rows = hashlib.sha256()
    for batch in table.to_batches():
        for column in batch.columns:
            for buf in column.buffers():
                if buf is not None:
                    rows.update(buf)
    return repr((str(table.schema), meta.metadata, chunks, rows.hexdigest())).encode()


def digests(folder: Path) -> dict[str, list[str]]:
    """Per sub-folder (relative, part-file names dropped), the sorted digests of its files."""
    out: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith((".", "_")) and path.name != \
                "manifest.json":
            body = _parquet_key(path) if path.suffix == ".parquet" else path.read_bytes()
            if path.suffix in (".json", ".md"):
                body = VERSION.sub("VERSION", body.decode()).encode()
            key = str(path.parent.relative_to(folder))
            name = "" if path.name.startswith("part-") else path.name
            out.setdefault(f"{key}/{name}", []).append(hashlib.sha256(body).hexdigest())
    return {k: sorted(v) for k, v in out.items()}


def main(argv: list[str]) -> int:
    a, b = (Path(p) for p in argv)
    same = True
    for stage in STAGES:
        va, vb = newest(a, stage), newest(b, stage)
        if va is None or vb is None:
            print(f"{stage}: missing in {'the first' if va is None else 'the second'} root")
            same = False
            continue
        da, db = digests(va), digests(vb)
        files = sum(len(v) for v in da.values())
        if da == db:
            print(f"{stage}: identical ({files} files)")
        else:
            same = False
            diff = sorted(k for k in set(da) | set(db) if da.get(k) != db.get(k))
            print(f"{stage}: DIFFERENT in {', '.join(diff)}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
