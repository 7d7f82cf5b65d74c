"""The index stage: seeded, byte-identical shards; a loader that refuses damaged files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from latentspark import embeddings
from latentspark.artifacts import Published
from latentspark.cli import main
from latentspark.errors import ArtifactError
from latentspark.fs import HadoopFS
from latentspark.index import IndexSpec, check_sizes, forget_loaded, open_index, open_shard

V = 300


def write_embeddings(spark, path: Path, dim: int, seed: int = 0) -> Path:
    vectors = np.random.default_rng(seed).normal(size=(V, dim)).astype(np.float32)
    embeddings.write(HadoopFS(spark), str(path / "data"),
                     embeddings.to_table([f"w{i}" for i in range(V)], np.arange(V, 0, -1),
                                         vectors))
    return path


def build(root: Path, emb: Path, *extra: str) -> Path:
    code = main(["index", "-q", "--force", "--root", str(root), "--embeddings", str(emb),
                 "--set", "index.shards=3", "--set", "index.n_trees=8", *extra])
    assert code == 0
    return sorted((root / "index").iterdir())[-1]


def spec_of(version: Path, cache: Path) -> IndexSpec:
    manifest = json.loads((version / "manifest.json").read_text())
    forget_loaded()
    spec = IndexSpec.from_published(Published("index", version.name, str(version), manifest))
    return IndexSpec(**{**spec.__dict__, "cache_dir": str(cache)})


def file_bytes(version: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((version / "data").glob("*-*"))}


def test_manifest_describes_every_file(spark, tmp_path):
    emb = write_embeddings(spark, tmp_path / "emb", 6)
    version = build(tmp_path / "run", emb, "--set", "index.on_disk_build=true")
    m = json.loads((version / "manifest.json").read_text())
    assert (m["dim"], m["metric"], m["shards"], m["n_trees"], m["seed"]) == (6, "angular", 3, 8,
                                                                            42)
    assert m["annoy_version"] and m["embeddings"]["fingerprint"] == m["input_fingerprint"]
    assert sorted(m["files"]) == sorted(f"data/{p.name}" for p in (version / "data").iterdir())
    for name, entry in m["files"].items():
        body = (version / name).read_bytes()
        assert entry["size"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
    assert [m["files"][f"data/shard-{s:05d}.ann"]["items"] for s in range(3)] == [100] * 3
    words = pq.read_table(version / "data" / "words.parquet").to_pylist()
    assert words[:2] == [{"id": 0, "word": "w0"}, {"id": 1, "word": "w1"}]
    # item i of shard s is word i * 3 + s: its stored vector is that word's unit vector
    vectors = np.random.default_rng(0).normal(size=(V, 6))
    ix = open_index(spec_of(version, tmp_path / "cache"))
    got = np.array(ix.shards[2].annoy.get_item_vector(5))
    assert np.allclose(got, vectors[17] / np.linalg.norm(vectors[17]), atol=1e-6)


def test_seeded_build_is_byte_identical_and_gives_identical_neighbours(spark, tmp_path):
    emb = write_embeddings(spark, tmp_path / "emb", 10)
    first = build(tmp_path / "a", emb)
    again = build(tmp_path / "b", emb)
    assert file_bytes(first) == file_bytes(again)

    def neighbours(version: Path) -> list[list[int]]:
        ix = open_index(spec_of(version, tmp_path / f"cache-{version.parent.parent.name}"))
        return [s.annoy.get_nns_by_item(i, 10) for s in ix.shards for i in range(0, 100, 7)]

    assert neighbours(first) == neighbours(again)
    other = build(tmp_path / "c", emb, "--set", "index.seed=7")
    assert file_bytes(other)["shard-00000.ann"] != file_bytes(first)["shard-00000.ann"]
    # an up-to-date index is reused, not rebuilt
    assert main(["index", "-q", "--root", str(tmp_path / "a"), "--embeddings", str(emb),
                 "--set", "index.shards=3", "--set", "index.n_trees=8"]) == 0
    assert len(list((tmp_path / "a" / "index").iterdir())) == 1


def test_open_shard_keeps_a_bounded_part_of_the_index(spark, index, tmp_path):
    version, _ = index
    whole = [np.array(s.vectors) for s in open_index(spec_of(version, tmp_path / "all")).shards]
    cache = tmp_path / "cache"
    spec = spec_of(version, cache)

    def local_files() -> list[str]:
        return sorted(p.name for p in cache.rglob("*") if p.is_file())

    for s in (0, 1, 2, 1):
        shard = open_shard(spec, s, annoy=True, budget_bytes=0)
        # the shard's own vectors and Annoy index, verified like open_index's
        assert np.array_equal(np.asarray(shard.vectors), whole[s])
        assert shard.annoy.get_n_items() == 100
        # never more than the two most recently used shards mapped and on disk
        assert len(local_files()) <= 4
    assert local_files() == sorted([f"data__{kind}-{s:05d}.{ext}" for s in (1, 2)
                                    for kind, ext in (("shard", "ann"), ("vectors", "f32"))])
    # a generous budget keeps every shard
    for s in (0, 1, 2):
        open_shard(spec, s, annoy=False, budget_bytes=2**30)
    assert len([f for f in local_files() if f.endswith(".f32")]) == 3
    forget_loaded()


@pytest.fixture()
def index(spark, tmp_path):
    emb = write_embeddings(spark, tmp_path / "emb", 8)
    return build(tmp_path / "run", emb), emb


def test_truncated_file_is_refused(spark, index, tmp_path):
    version, _ = index
    target = version / "data" / "shard-00001.ann"
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(ArtifactError, match=r"shard-00001\.ann has \d+ bytes.*truncated"):
        open_index(spec_of(version, tmp_path / "cache"))
    with pytest.raises(ArtifactError, match="shard-00001.ann"):
        check_sizes(HadoopFS(spark), spec_of(version, tmp_path / "cache"))


def test_corrupted_file_is_refused_also_inside_spark_tasks(spark, index, tmp_path, capsys):
    version, emb = index
    target = version / "data" / "shard-00000.ann"
    body = bytearray(target.read_bytes())
    body[len(body) // 2] ^= 0xFF
    target.write_bytes(bytes(body))
    with pytest.raises(ArtifactError, match=r"shard-00000\.ann is corrupted"):
        open_index(spec_of(version, tmp_path / "cache"))
    # the same refusal from the executors reaches the command line as exit code 5
    code = main(["neighbours", "-q", "--all", "--mode", "annoy", "--root", str(tmp_path / "run"),
                 "--embeddings", str(emb), "--set", "index.shards=3", "--set",
                 "index.n_trees=8", "--set",
                 f"index.cache_dir={json.dumps(str(tmp_path / 'cache2'))}"])
    assert code == 5
    err = capsys.readouterr().err
    assert "shard-00000.ann is corrupted" in err and "Traceback" not in err


def test_wrong_dimension_file_is_refused(spark, index, tmp_path):
    version, _ = index
    emb12 = write_embeddings(spark, tmp_path / "emb12", 12)
    other = build(tmp_path / "run12", emb12)
    # a well-formed Annoy file of another dimension, with a manifest entry that matches it:
    # checksums pass, the layout check must not
    src = other / "data" / "shard-00000.ann"
    shutil.copy(src, version / "data" / "shard-00000.ann")
    manifest = json.loads((version / "manifest.json").read_text())
    body = src.read_bytes()
    manifest["files"]["data/shard-00000.ann"].update(
        size=len(body), sha256=hashlib.sha256(body).hexdigest())
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"shard-00000\.ann.*dimension 8"):
        open_index(spec_of(version, tmp_path / "cache"))


def test_missing_file_is_refused(spark, index, tmp_path):
    version, _ = index
    (version / "data" / "vectors-00002.f32").unlink()
    with pytest.raises(ArtifactError, match="vectors-00002.f32 is missing"):
        check_sizes(HadoopFS(spark), spec_of(version, tmp_path / "cache"))


def test_index_takes_the_newest_published_embeddings(spark, tmp_path):
    from latentspark.artifacts import StageStore

    root = tmp_path / "run"
    vectors = np.random.default_rng(5).normal(size=(40, 4)).astype(np.float32)
    store = StageStore(spark, str(root), "embeddings")
    with store.staging() as st:
        embeddings.write(store.fs, st.data_path, embeddings.to_table(
            [f"x{i}" for i in range(40)], np.arange(40, 0, -1), vectors))
        st.manifest.update({"dim": 4, "vocab_size": 40, "method": "test"})
    assert main(["index", "-q", "--root", str(root), "--set", "index.shards=2"]) == 0
    [version] = (root / "index").iterdir()
    m = json.loads((version / "manifest.json").read_text())
    assert m["embeddings"]["version"] == store.require().version
    assert (m["dim"], m["vocab_size"]) == (4, 40)
