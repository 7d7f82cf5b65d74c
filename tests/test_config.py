"""Configuration loading, validation and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentspark.cli import build_parser, resolve_config
from latentspark.config import Config, load_config, parse_override, render_toml
from latentspark.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"


def test_default_toml_mirrors_the_dataclass_defaults():
    assert load_config(CONF / "default.toml") == Config()
    assert (CONF / "default.toml").read_text() == render_toml(Config())


def test_cluster_example_loads():
    cfg = load_config(CONF / "cluster.toml")
    assert cfg.spark.conf["spark.executor.memory"] == "8g"
    assert cfg.cooccur.blocks == 256


def test_embeddings_example_loads():
    cfg = load_config(CONF / "embeddings.toml")
    assert (cfg.cooccur.window, cfg.cooccur.dynamic_window) == (5, True)
    assert cfg.factorize.method == "ppmi_wals"
    # SGNS's loss, each observed pair weighted by its count (benchmarks/results/quality300.md)
    assert (cfg.factorize.loss, cfg.factorize.observed_power) == ("sgns", 1.0)
    # depth, iterations and eigenvalue weighting follow the dimension: at 100 the best
    # worst-case margin of benchmarks/results/quality100_it4.md, at 300 quality300.md's
    # settings
    at = {d: load_config(CONF / "embeddings.toml", [f"factorize.dim={d}"]).factorize
          for d in (100, 300)}
    assert [at[d].remove_top_depth() for d in (100, 300)] == [2, 9]
    assert [at[d].wals_iteration_count() for d in (100, 300)] == [4, 2]
    assert [at[d].eig_value() for d in (100, 300)] == [0.25, 0.5]
    # smoothing and the negatives' expansion point: benchmarks/results/sweep_cds.md's at 100,
    # quality300.md's at 300
    assert [at[d].cds_value() for d in (100, 300)] == [0.5, 0.75]
    assert [at[d].negative_center_value() for d in (100, 300)] == [-1.5, 0.0]


def test_file_then_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[cooccur]\nwindow = 4\nweighting = "uniform"\n[vocab]\nmin_count = 2\n')
    cfg = load_config(f, ["cooccur.window=7", "corpus.path=data/*.txt",
                          "spark.conf.spark.executor.memory=2g"])
    assert (cfg.cooccur.window, cfg.cooccur.weighting, cfg.vocab.min_count) == (7, "uniform", 2)
    assert cfg.corpus.path == "data/*.txt"
    assert cfg.spark.conf == {"spark.executor.memory": "2g"}


@pytest.mark.parametrize(("override", "fragments"), [
    ("cooccur.windw=3", ["cooccur.windw", "known keys", "window"]),
    ("cooccur.window=0", ["cooccur.window", "0", "[1, 1000]"]),
    ("cooccur.window=2.5", ["cooccur.window", "2.5", "integer"]),
    ("cooccur.window=true", ["cooccur.window", "True", "integer"]),
    ("cooccur.weighting=cosine", ["cooccur.weighting", "cosine", "harmonic", "uniform"]),
    ("tokenize.lowercase=1", ["tokenize.lowercase", "true or false"]),
    ("vocab.min_count=-1", ["vocab.min_count", "-1"]),
    # -1 follows the dimension; no other negative value means anything
    ("factorize.eig=-0.5", ["factorize.eig", "-0.5", "-1 (follow the dimension)", "[0.0, 1.0]"]),
    ("factorize.cds=-0.25", ["factorize.cds", "-0.25", "-1 (follow the dimension)", "[0.0, 1.0]"]),
    # 1 follows the dimension; no other positive value means anything
    ("factorize.negative_center=0.5", ["factorize.negative_center", "0.5",
                                       "1 (follow the dimension)", "[-8.0, 0.0]"]),
    ("cooc.window=3", ["unknown config section", "cooc"]),
    ("window=3", ["section.key=value"]),
])
def test_bad_values_name_key_value_and_allowed(override, fragments):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    for fragment in fragments:
        assert fragment in str(err.value)


def test_file_typo_names_the_file(tmp_path):
    f = tmp_path / "typo.toml"
    f.write_text("[vocab]\nmin_cout = 3\n")
    with pytest.raises(ConfigError, match=r"vocab.min_cout.*typo.toml"):
        load_config(f)
    f.write_text("[vocab\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")


def test_parse_override_reads_toml_values():
    assert parse_override("cooccur.subsample=1e-5") == ("cooccur", "subsample", 1e-5)
    assert parse_override('corpus.where=date >= "2026"') == ("corpus", "where", 'date >= "2026"')
    assert parse_override("tokenize.nfkc=false") == ("tokenize", "nfkc", False)


def test_cli_shortcuts_and_environment():
    args = build_parser().parse_args(["vocab", "--corpus", "c/", "--root", "r",
                                      "--where", "date >= '2026-11-01'",
                                      "--set", "vocab.min_count=3"])
    env = {"LATENTSPARK__VOCAB__MIN_COUNT": "9", "LATENTSPARK__COOCCUR__WINDOW": "4"}
    cfg = resolve_config(args, env)
    assert cfg.corpus.path == "c/" and cfg.run.root == "r"
    assert cfg.corpus.where == "date >= '2026-11-01'"
    assert cfg.vocab.min_count == 3  # --set beats the environment
    assert cfg.cooccur.window == 4


def test_section_hash_changes_with_its_sections_only():
    a, b = Config(), Config()
    b.cooccur.window = 3
    assert a.section_hash("vocab") == b.section_hash("vocab")
    assert a.section_hash("cooccur") != b.section_hash("cooccur")
