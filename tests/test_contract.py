"""The stage contract: one name per stage everywhere, one publishing skeleton."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from latentspark.artifacts import STAGES, StageStore, build_stage
from latentspark.cli import build_parser
from latentspark.pipeline import STAGES as PIPELINE_STAGES
from latentspark.stages import runner

REPO = Path(__file__).resolve().parents[1]


def subcommands() -> set[str]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_one_name_across_module_command_job_and_store(stage):
    module = importlib.import_module(f"latentspark.stages.{stage}")
    assert runner(stage) is module.run
    assert stage in subcommands()
    job = (REPO / "jobs" / f"{stage}.py").read_text()
    assert f'submit("{stage}")' in job


def test_pipeline_steps_are_stage_names():
    assert PIPELINE_STAGES[:-1] == STAGES[:5] and PIPELINE_STAGES[-1] == "publish"


def test_unknown_stage_is_a_config_error():
    from latentspark.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown stage 'factorize'"):
        runner("factorize")


def test_build_stage_skips_builds_and_returns_its_own_version(spark, tmp_path):
    store = StageStore(spark, str(tmp_path), "vocab", keep_versions=5)
    built = []

    def build(st):
        built.append(st.version)
        (Path(st.path.removeprefix("file:")) / "data").mkdir()
        st.manifest["rows"] = len(built)

    first = build_stage(store, fingerprint="f1", config_hash="c1", force=False, build=build)
    assert first.manifest["input_fingerprint"] == "f1" and first.manifest["rows"] == 1
    # the same inputs and settings: reused, nothing built
    assert build_stage(store, fingerprint="f1", config_hash="c1", force=False,
                       build=build).version == first.version
    assert len(built) == 1
    # other settings, or force: a new version, and the call returns that one
    second = build_stage(store, fingerprint="f1", config_hash="c2", force=False, build=build)
    third = build_stage(store, fingerprint="f1", config_hash="c2", force=True, build=build)
    assert [first.version, second.version, third.version] == store.versions() == built
    manifest = json.loads((Path(third.path.removeprefix("file:")) / "manifest.json")
                          .read_text())
    assert manifest["config_hash"] == "c2" and manifest["rows"] == 3


def test_a_failing_build_publishes_nothing(spark, tmp_path):
    store = StageStore(spark, str(tmp_path), "index")

    def build(st):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        build_stage(store, fingerprint="f", config_hash="c", force=False, build=build)
    assert store.current() is None
    assert not list((tmp_path / "_staging").iterdir())


def test_cli_has_a_version_and_data_help(capsys):
    from latentspark import __version__
    from latentspark.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["data", "--help"])
    assert done.value.code == 0 and "fetch" in capsys.readouterr().out


def test_each_command_shows_only_its_own_settings(capsys):
    parser = build_parser()
    options = {name: {o for a in sp._actions for o in a.option_strings}
               for name, sp in next(a for a in parser._actions if a.dest == "command")
               .choices.items()}
    assert "--cooccur.window" in options["cooccur"]
    assert "--cooccur.window" not in options["export"]
    assert "--corpus" not in options["export"] and "--corpus" not in options["index"]
    assert "--factorize.dim" in options["embeddings"] and "--factorize.dim" not in options["vocab"]
    assert "--explore.k" in options["explore"] and "--explore.k" not in options["pipeline"]


def test_generated_options_and_toml_arrays_reach_the_config():
    from latentspark.cli import resolve_config

    args = build_parser().parse_args([
        "eval", "--root", "r", "--evaluate.k", "7", "--analogies", "a.txt", "--analogies",
        "b.txt", "--evaluate.case_insensitive", "--no-evaluate.strict",
        "--set", 'evaluate.words=["king", "paris"]'])
    cfg = resolve_config(args, {})
    assert cfg.evaluate.k == 7 and cfg.evaluate.analogies == ["a.txt", "b.txt"]
    assert cfg.evaluate.words == ["king", "paris"] and cfg.evaluate.strict is False
    # the comma-separated form of older files and --set still reads as a list
    args = build_parser().parse_args(["eval", "--set", "evaluate.similarity=x.tsv, y.tsv"])
    assert resolve_config(args, {}).evaluate.similarity == ["x.tsv", "y.tsv"]
