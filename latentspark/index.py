"""Sharded Annoy indexes over unit vectors, and their verified loader.

A published ``index`` version holds, under ``data/``:

======================  ========================================================================
file                    content
======================  ========================================================================
shard-NNNNN.ann         Annoy index (angular) of the words with ``id % shards == NNNNN``; item
                        ``i`` of shard ``s`` is word ``i * shards + s``
vectors-NNNNN.f32       the same words' unit vectors, float32, row-major, ``items x dim``
words.parquet           ``id int32, word string``: the id-to-word table
======================  ========================================================================

and ``manifest.json`` with the dimension, metric, ``n_trees``, seed, shard count, Annoy's
version, the size and SHA-256 of every file and the fingerprint of the embeddings indexed.

Shards are built in parallel, one Spark task each, every one with ``AnnoyIndex.set_seed(seed)``
and a single build thread, so the same embeddings and config give byte-identical files. Each
task builds in a local temporary folder and copies its files to the run root.

Readers (the evaluator's Python workers) copy the files into a private folder of their own
process (``mkdtemp``: mode 0700, removed when the process exits), check size and SHA-256
against the manifest and the file layout against the dimension *after the copy and before
mapping them*, and keep the mapped index in a module-level cache so that a reused worker maps
it once. No other process can swap a file between the check and the mapping. The manifest
itself is authenticated by the model version that copied it: its SHA-256 is recorded there
(:func:`latentspark.models.index_spec`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pyarrow as pa

from latentspark.artifacts import EMBEDDINGS, Published, RunRoot, Staging
from latentspark.config import Config, IndexConfig
from latentspark.cooccurrence import partition_keys
from latentspark.errors import ArtifactError, InputError
from latentspark.fs import sha256_file
from latentspark.vecmath import unit_rows
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

METRIC = "angular"
#: marker that carries a loader refusal out of a Spark task, see :func:`index_errors`
REFUSED = "index refused"
#: bytes of one node of an angular Annoy index, besides its ``4 * dim`` vector bytes
#: (``n_descendants`` and two child offsets, all int32)
ANNOY_NODE_HEADER = 12

BUILD_SCHEMA = "shard INT, name STRING, kind STRING, items BIGINT, size BIGINT, sha256 STRING"


# ---------------------------------------------------------------------------------------------
# the embeddings to index


@dataclass(frozen=True)
class EmbeddingsInput:
    """Embeddings resolved from the config: where their Parquet is and what it holds."""

    data_path: str
    version: str | None
    fingerprint: str
    dim: int
    vocab_size: int


def resolve_embeddings(spark, cfg: Config, pub: Published | None = None) -> EmbeddingsInput:
    """Find the embeddings to index: ``pub``, ``index.embeddings``, or the newest published
    version.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    pub : Published, optional
        A published embeddings version to use as it is (the pipeline's own).

    Returns
    -------
    EmbeddingsInput

    Raises
    ------
    InputError
        If the explicit path does not exist or holds no Parquet with a ``vector`` column.
    ArtifactError
        If no path is given and no embeddings version is published under the run root.
    """
    from latentspark.fs import HadoopFS

    fs = HadoopFS(spark)
    path = cfg.index.embeddings.rstrip("/")
    manifest = None
    if pub is not None:
        path, manifest = pub.path, pub.manifest
    elif not path:
        pub = RunRoot.from_config(spark, cfg).require(EMBEDDINGS)
        path, manifest = pub.path, pub.manifest
    elif not fs.exists(path):
        raise InputError(f"index.embeddings = {path!r}: no such file or folder")
    else:
        from latentspark.models import resolve

        # a model root reads as its LATEST version, a model version as its embeddings
        path = resolve(fs, path) or path
    return locate_embeddings(spark, fs, path, manifest)


def locate_embeddings(spark, fs, path: str, manifest: dict | None = None,
                      columns: tuple[str, ...] = ("id", "word", "vector"),
                      what: str = "embeddings") -> EmbeddingsInput:
    """Check an embeddings folder (a published version, or bare Parquet) and describe it.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    fs : HadoopFS
    path : str
        The folder; a published version keeps its Parquet under ``data/``.
    manifest : dict, optional
        Its manifest, if already read (else ``path/manifest.json`` when there is one).
    columns : tuple of str
        Columns the table must have.
    what : str
        How error messages name it.

    Raises
    ------
    InputError
        No Parquet files, missing columns, or no rows.
    """
    import json

    if manifest is None:
        manifest = (json.loads(fs.read_bytes(f"{path}/manifest.json"))
                    if fs.exists(f"{path}/manifest.json") else {})
    version = manifest.get("version")
    data = f"{path}/data" if fs.is_dir(f"{path}/data") else path
    files = [f for f in fs.list_files(data) if f.path.endswith(".parquet")]
    if not files:
        raise InputError(f"{what} {data}: no Parquet files")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path.rsplit('/', 1)[-1]}:{f.size}:{f.mtime}\n".encode())
    df = spark.read.parquet(data)
    missing = set(columns) - set(df.columns)
    if missing:
        raise InputError(f"{what} {data}: missing columns {sorted(missing)}; expected "
                         "id, word, count, vector, norm (see latentspark.embeddings)")
    dim = manifest.get("dim")
    # rows: the words left once the embeddings stage dropped zero or non-finite vectors
    vocab_size = manifest.get("rows", manifest.get("vocab_size"))
    if dim is None or vocab_size is None:
        from pyspark.sql import functions as F

        row = df.agg(F.count(F.lit(1)).alias("n"), F.max(F.size("vector")).alias("d")).first()
        dim, vocab_size = int(row["d"] or 0), int(row["n"])
    if not dim or not vocab_size:
        raise InputError(f"{what} {data}: empty")
    return EmbeddingsInput(data, version, f"{version or data}:{digest.hexdigest()}", int(dim),
                           int(vocab_size))


# ---------------------------------------------------------------------------------------------
# building


def build_shard(ids: np.ndarray, vectors: np.ndarray, shards: int, shard: int, n_trees: int,
                seed: int, on_disk: bool, folder: str) -> list[tuple[str, str, int]]:
    """Build one shard's Annoy index and unit-vector file in a local folder.

    Parameters
    ----------
    ids : numpy.ndarray
        Global word ids of the shard (all ``% shards == shard``), in any order.
    vectors : numpy.ndarray
        Their vectors (rows match ``ids``), not necessarily normalised.
    shards, shard : int
        Shard count and this shard's number.
    n_trees, seed : int
        Annoy parameters.
    on_disk : bool
        Use Annoy's ``on_disk_build``.
    folder : str
        Local folder that receives the files.

    Returns
    -------
    list of (name, kind, items)
        The files written.
    """
    from annoy import AnnoyIndex

    order = np.argsort(ids, kind="stable")
    local = ids[order] // shards
    n = local.size
    if not np.array_equal(local, np.arange(n)):
        raise InputError(f"shard {shard}: word ids are not 0..V-1 without gaps")
    unit = unit_rows(vectors[order])
    dim = unit.shape[1]
    ann_name, vec_name = f"shard-{shard:05d}.ann", f"vectors-{shard:05d}.f32"
    ann_path = os.path.join(folder, ann_name)
    index = AnnoyIndex(dim, METRIC)
    index.set_seed(seed)
    if on_disk:
        index.on_disk_build(ann_path)
    for i in range(n):  # Annoy takes items one by one
        index.add_item(i, unit[i])
    # one build thread: Annoy's threads interleave their nodes in timing order, which would
    # make the file differ from run to run; shards give the parallelism instead
    index.build(n_trees, n_jobs=1)
    if not on_disk:
        index.save(ann_path)
    index.unload()
    unit.tofile(os.path.join(folder, vec_name))
    return [(ann_name, "annoy", n), (vec_name, "vectors", n)]


def _shard_builder(dest: str, dim: int, shards: int, n_trees: int, seed: int, on_disk: bool,
                   options: dict[str, str]):
    """The ``mapInArrow`` function that builds the shards of its partition and uploads them."""

    def build(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.compute as pc

        from latentspark.remote import upload

        parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
        for batch in batches:
            if batch.num_rows == 0:
                continue
            vec = batch.column("vector")
            lengths = pc.list_value_length(vec).to_numpy(zero_copy_only=False)
            if (lengths != dim).any():
                raise InputError(f"embeddings: vectors of length {int(lengths.min())}.."
                                 f"{int(lengths.max())}, expected {dim}")
            ids = batch.column("id").to_numpy().astype(np.int64)
            flat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
            mat = flat.reshape(-1, dim)
            shard_of = ids % shards
            for s in np.unique(shard_of):
                keep = shard_of == s
                parts.setdefault(int(s), []).append((ids[keep], mat[keep]))
        for s, chunks in sorted(parts.items()):
            ids = np.concatenate([c[0] for c in chunks])
            mat = np.concatenate([c[1] for c in chunks])
            with tempfile.TemporaryDirectory(prefix="latentspark-index-") as tmp:
                files = build_shard(ids, mat, shards, s, n_trees, seed, on_disk, tmp)
                rows = []
                for name, kind, items in files:
                    local = os.path.join(tmp, name)
                    rows.append((s, name, kind, items, os.path.getsize(local), sha256_file(local)))
                    upload(local, f"{dest}/{name}", options)
            yield pa.RecordBatch.from_pylist(
                [dict(zip(("shard", "name", "kind", "items", "size", "sha256"), r, strict=True))
                 for r in rows],
                schema=pa.schema([("shard", pa.int32()), ("name", pa.string()),
                                  ("kind", pa.string()), ("items", pa.int64()),
                                  ("size", pa.int64()), ("sha256", pa.string())]))

    return build


def build_index(spark, emb: EmbeddingsInput, ic: IndexConfig, st: Staging, fs) -> dict:
    """Build the Annoy shards (one Spark task each) and the word table into ``st.data_path``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    emb : EmbeddingsInput
        The embeddings to index.
    ic : IndexConfig
    st : Staging
        Where the files go.
    fs : HadoopFS

    Returns
    -------
    dict
        The manifest fields: dimension, metric, shard layout and every file's size and
        SHA-256.

    Raises
    ------
    InputError
        Fewer words than shards.
    """
    from pyspark.sql import functions as F

    from latentspark.remote import options_from_spark

    logger.info("index: %d words of dimension %d, %d shards, %d trees, seed %d",
                emb.vocab_size, emb.dim, ic.shards, ic.n_trees, ic.seed)
    keys = partition_keys(spark, ic.shards)
    df = spark.read.parquet(emb.data_path).select(F.col("id").cast("int").alias("id"),
                                                  "vector")
    shard = F.pmod(F.col("id"), F.lit(ic.shards))
    key = F.array(*[F.lit(k) for k in keys])[shard]
    parts = df.repartition(ic.shards, key.alias("pkey")).drop("pkey")
    with st.timed("build"):
        built = parts.mapInArrow(
            arrow_task(_shard_builder(st.data_path, emb.dim, ic.shards, ic.n_trees, ic.seed,
                                      ic.on_disk_build, options_from_spark(spark))),
            BUILD_SCHEMA).collect()
    got = sorted({int(r["shard"]) for r in built})
    if got != list(range(ic.shards)) or len(built) != 2 * ic.shards:
        raise InputError(f"embeddings {emb.data_path}: built shards {got}, expected "
                         f"0..{ic.shards - 1}; fewer words ({emb.vocab_size}) than shards?")
    files = {f"data/{r['name']}": {"kind": r["kind"], "shard": int(r["shard"]),
                                   "items": int(r["items"]), "size": int(r["size"]),
                                   "sha256": r["sha256"]}
             for r in sorted(built, key=lambda r: r["name"])}
    with st.timed("words"):
        words = _write_words(spark, emb.data_path, f"{st.data_path}/words.parquet")
    files["data/words.parquet"] = {"kind": "words", "items": emb.vocab_size, **words}
    return {
        "embeddings": {"path": emb.data_path, "version": emb.version,
                       "fingerprint": emb.fingerprint},
        "dim": emb.dim,
        "metric": METRIC,
        "n_trees": ic.n_trees,
        "seed": ic.seed,
        "shards": ic.shards,
        "vocab_size": emb.vocab_size,
        "annoy_version": metadata.version("annoy"),
        "layout": "item i of shard s is word i * shards + s; vectors-s.f32 holds the "
                  "shard's unit vectors (float32, items x dim)",
        "files": files,
    }


def index_config_hash(ic: IndexConfig) -> str:
    """Hash of the settings that shape the index files (not the reader's cache folder)."""
    payload = f"{ic.n_trees}:{ic.seed}:{ic.shards}:{ic.on_disk_build}:{METRIC}"
    return hashlib.sha256(payload.encode()).hexdigest()


def _write_words(spark, data_path: str, dest: str) -> dict[str, int | str]:
    """The id-to-word table as one Parquet file, written by pyarrow in one Spark task (so that
    its bytes, and its SHA-256 in the manifest, do not depend on the JVM); the driver gets only
    the file's size and SHA-256 (one row), never the words. ``coalesce(1)``: that task reads the
    embeddings' files itself, with no shuffle of the words first."""
    from pyspark.sql import functions as F

    from latentspark.remote import options_from_spark

    options = options_from_spark(spark)

    def write(batches):
        import pyarrow.parquet as pq

        from latentspark.remote import upload

        table = pa.Table.from_batches(list(batches), schema=pa.schema(
            [("id", pa.int32()), ("word", pa.string())])).sort_by("id")
        with tempfile.TemporaryDirectory(prefix="latentspark-words-") as tmp:
            local = os.path.join(tmp, "words.parquet")
            pq.write_table(table, local, compression="zstd")
            upload(local, dest, options)
            yield pa.RecordBatch.from_pylist(
                [{"size": os.path.getsize(local), "sha256": sha256_file(local)}],
                schema=pa.schema([("size", pa.int64()), ("sha256", pa.string())]))

    [row] = (spark.read.parquet(data_path)
             .select(F.col("id").cast("int").alias("id"), F.col("word").cast("string"))
             .coalesce(1).mapInArrow(arrow_task(write), "size LONG, sha256 STRING").collect())
    return {"size": int(row["size"]), "sha256": row["sha256"]}


# ---------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class IndexSpec:
    """What a worker needs to find, verify and map a published index (picklable)."""

    path: str
    version: str
    dim: int
    shards: int
    vocab_size: int
    files: dict[str, dict[str, Any]]
    search_k: int = -1
    cache_dir: str = ""
    #: the driver's ``fs.s3a.*`` settings, for the workers' pyarrow copies
    remote_options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_published(cls, pub: Published, ic: IndexConfig | None = None,
                       remote_options: dict[str, str] | None = None) -> IndexSpec:
        """The spec of a published index version, with the reader settings of ``ic``."""
        m = pub.manifest
        try:
            return cls(pub.path, pub.version, int(m["dim"]), int(m["shards"]),
                       int(m["vocab_size"]), dict(m["files"]),
                       ic.search_k if ic else -1, ic.cache_dir if ic else "",
                       dict(remote_options or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"index {pub.path}: manifest lacks or mangles {exc}") from None

    def cache_key(self) -> str:
        """Identifies the files by content, so a changed manifest is never served stale."""
        body = repr(sorted((k, v["sha256"]) for k, v in self.files.items()))
        return hashlib.sha256(f"{self.path}|{body}".encode()).hexdigest()[:20]


@dataclass
class Shard:
    """One mapped shard: unit vectors (memory-mapped) and, when asked for, its Annoy index."""

    vectors: np.ndarray
    annoy: Any = None


@dataclass
class LoadedIndex:
    """A verified, memory-mapped index, shared by all tasks of a Python worker."""

    spec: IndexSpec
    shards: list[Shard]
    words: pa.Array | None = None
    _local: dict[str, str] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self.spec.dim

    def unit(self, ids: np.ndarray) -> np.ndarray:
        """Unit vectors of global word ids, ``len(ids) x dim`` float32."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((ids.size, self.dim), dtype=np.float32)
        n = self.spec.shards
        for s, shard in enumerate(self.shards):
            sel = np.flatnonzero(ids % n == s)
            if sel.size:
                out[sel] = shard.vectors[ids[sel] // n]
        return out

    def word(self, ids: np.ndarray) -> pa.Array:
        """The words of global ids."""
        return self.words.take(pa.array(np.asarray(ids, dtype=np.int64)))


_LOADED: dict[tuple[str, bool], LoadedIndex] = {}
_VERIFIED: dict[str, str] = {}
#: this process's private cache folder, per parent folder (``index.cache_dir`` or the tmp dir)
_PRIVATE: dict[str, str] = {}
_PRIVATE_PREFIX = "latentspark-index-"


def _private_dir(parent: str) -> str:
    """This process's own cache folder under ``parent``, made on first use (mode 0700) and
    removed at exit; folders left by processes that are gone are removed on the way."""
    if parent in _PRIVATE:
        return _PRIVATE[parent]
    import atexit
    import shutil

    from latentspark.lock import pid_alive

    os.makedirs(parent, exist_ok=True)
    for name in os.listdir(parent):
        pid = name[len(_PRIVATE_PREFIX):].split("-")[0]
        if name.startswith(_PRIVATE_PREFIX) and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
    folder = tempfile.mkdtemp(prefix=f"{_PRIVATE_PREFIX}{os.getpid()}-", dir=parent)
    atexit.register(shutil.rmtree, folder, True)
    _PRIVATE[parent] = folder
    return folder


def _refuse(message: str) -> ArtifactError:
    return ArtifactError(f"{REFUSED}: {message}")


def _cached_copy(spec: IndexSpec, name: str) -> str:
    """A local, verified copy of one index file: size and SHA-256 match the manifest."""
    entry = spec.files[name]
    remote = f"{spec.path}/{name}"
    folder = os.path.join(_private_dir(spec.cache_dir or tempfile.gettempdir()),
                          spec.cache_key())
    os.makedirs(folder, exist_ok=True)
    local = os.path.join(folder, name.replace("/", "__"))
    if local in _VERIFIED:
        return local
    from latentspark.remote import download

    try:
        download(remote, local, spec.remote_options)
    except (OSError, FileNotFoundError) as exc:
        raise _refuse(f"index file {remote} cannot be read: {exc}") from None
    size = os.path.getsize(local)
    if size != entry["size"]:
        os.unlink(local)
        raise _refuse(f"index file {remote} has {size} bytes, the manifest says "
                      f"{entry['size']}: truncated or replaced")
    digest = sha256_file(local)
    if digest != entry["sha256"]:
        os.unlink(local)
        raise _refuse(f"index file {remote} is corrupted: SHA-256 {digest[:16]}... does not "
                      f"match the manifest's {entry['sha256'][:16]}...")
    _VERIFIED[local] = digest
    return local


def _names(spec: IndexSpec, kind: str) -> list[str]:
    names = sorted(n for n, e in spec.files.items() if e.get("kind") == kind)
    if kind != "words" and len(names) != spec.shards:
        raise _refuse(f"index {spec.path}: manifest lists {len(names)} {kind} files for "
                      f"{spec.shards} shards")
    return names


def open_index(spec: IndexSpec, annoy: bool = True) -> LoadedIndex:
    """Verify and map a published index, once per process.

    Every file is copied to the local cache, and its size and SHA-256 are compared with the
    manifest; Annoy files must also be a whole number of angular nodes of the manifest's
    dimension and hold the expected item count. Only then are they mapped.

    Parameters
    ----------
    spec : IndexSpec
        The index, from :meth:`IndexSpec.from_published`.
    annoy : bool
        Also map the Annoy files (exact search needs only the vectors).

    Returns
    -------
    LoadedIndex

    Raises
    ------
    ArtifactError
        Naming the file, when one is missing, truncated, corrupted or of another dimension.
    """
    key = (spec.cache_key(), annoy)
    if key in _LOADED:
        return _LOADED[key]
    import pyarrow.parquet as pq

    shards = []
    for name in _names(spec, "vectors"):
        entry = spec.files[name]
        local = _cached_copy(spec, name)
        if entry["size"] != entry["items"] * spec.dim * 4:
            raise _refuse(f"index file {spec.path}/{name}: {entry['size']} bytes is not "
                          f"{entry['items']} vectors of dimension {spec.dim}")
        vec = np.memmap(local, dtype=np.float32, mode="r").reshape(entry["items"], spec.dim)
        shards.append(Shard(vec))
    if annoy:
        for s, name in enumerate(_names(spec, "annoy")):
            shards[s].annoy = _map_annoy(spec, name, shards[s].vectors)
    [words_name] = _names(spec, "words")
    words = pq.read_table(_cached_copy(spec, words_name)).column("word").combine_chunks()
    if len(words) != spec.vocab_size:
        raise _refuse(f"index file {spec.path}/{words_name}: {len(words)} words, the manifest "
                      f"says {spec.vocab_size}")
    loaded = LoadedIndex(spec, shards, words)
    _LOADED[key] = loaded
    return loaded


#: shards mapped by :func:`open_shard` and their local files, least recently used first
_SHARDS: OrderedDict[tuple[str, int], tuple[Shard, list[str]]] = OrderedDict()


def open_shard(spec: IndexSpec, shard: int, annoy: bool, budget_bytes: int) -> Shard:
    """Verify and map one shard's files, keeping at most ``budget_bytes`` of shards per process.

    For indexes too big for one worker: the least recently used shards beyond the budget (but
    never the two most recent, a query shard and a target shard) are unmapped and their local
    copies deleted, so a worker's disk and address space hold a bounded part of the index.
    The checks are those of :func:`open_index`.

    Parameters
    ----------
    spec : IndexSpec
    shard : int
        Shard number, ``0 <= shard < spec.shards``.
    annoy : bool
        Also map the shard's Annoy file.
    budget_bytes : int
        Bytes of vector and Annoy files this process keeps mapped.

    Returns
    -------
    Shard
    """
    key = (spec.cache_key(), shard)
    if key not in _SHARDS:
        name = _names(spec, "vectors")[shard]
        entry = spec.files[name]
        if entry["size"] != entry["items"] * spec.dim * 4:
            raise _refuse(f"index file {spec.path}/{name}: {entry['size']} bytes is not "
                          f"{entry['items']} vectors of dimension {spec.dim}")
        local = _cached_copy(spec, name)
        vec = np.memmap(local, dtype=np.float32, mode="r").reshape(entry["items"], spec.dim)
        _SHARDS[key] = (Shard(vec), [local])
    _SHARDS.move_to_end(key)
    out, paths = _SHARDS[key]
    if annoy and out.annoy is None:
        name = _names(spec, "annoy")[shard]
        out.annoy = _map_annoy(spec, name, out.vectors)
        paths.append(_cached_copy(spec, name))
    while len(_SHARDS) > 2 and sum(os.path.getsize(p) for _, ps in _SHARDS.values()
                                   for p in ps if os.path.exists(p)) > budget_bytes:
        _, (old, old_paths) = _SHARDS.popitem(last=False)
        if old.annoy is not None:
            old.annoy.unload()
        for path in old_paths:
            _VERIFIED.pop(path, None)
            if os.path.exists(path):
                os.unlink(path)
    return out


def _map_annoy(spec: IndexSpec, name: str, vectors: np.ndarray):
    """Map one Annoy file after checking that its layout fits the manifest's dimension."""
    from annoy import AnnoyIndex

    entry = spec.files[name]
    remote = f"{spec.path}/{name}"
    local = _cached_copy(spec, name)
    node = ANNOY_NODE_HEADER + 4 * spec.dim
    if entry["size"] == 0 or entry["size"] % node:
        raise _refuse(f"index file {remote}: {entry['size']} bytes is not a whole number of "
                      f"angular Annoy nodes of dimension {spec.dim} ({node} bytes each): "
                      "wrong dimension, or not an Annoy index")
    index = AnnoyIndex(spec.dim, METRIC)
    try:
        index.load(local)  # memory-maps the file
    except OSError as exc:
        raise _refuse(f"index file {remote}: Annoy cannot load it: {exc}") from None
    items = index.get_n_items()
    # a file of another dimension can still be a whole number of nodes by chance: then its
    # item count or its first vector gives it away
    if items != entry["items"] or not np.allclose(index.get_item_vector(0), vectors[0],
                                                  atol=1e-5):
        index.unload()
        raise _refuse(f"index file {remote}: holds {items} items that do not match the "
                      f"{entry['items']} unit vectors of dimension {spec.dim} in the manifest: "
                      "wrong dimension or mismatched file")
    return index


def forget_loaded() -> None:
    """Drop this process's mapped indexes (tests; a long-lived driver after republishing)."""
    for loaded in _LOADED.values():
        for shard in loaded.shards:
            if shard.annoy is not None:
                shard.annoy.unload()
    _LOADED.clear()
    for shard, _ in _SHARDS.values():
        if shard.annoy is not None:
            shard.annoy.unload()
    _SHARDS.clear()
    _VERIFIED.clear()


def check_sizes(fs, spec: IndexSpec) -> None:
    """Driver-side check, before any task starts: every file exists with the manifest's size.

    Raises
    ------
    ArtifactError
        Naming the first missing or resized file.
    """
    for name, entry in sorted(spec.files.items()):
        path = f"{spec.path}/{name}"
        if not fs.exists(path):
            raise ArtifactError(f"index file {path} is missing")
        [info] = fs.list_files(path)
        if info.size != entry["size"]:
            raise ArtifactError(f"index file {path} has {info.size} bytes, the manifest says "
                                f"{entry['size']}: truncated or replaced")
