"""Bad input gives a clear error naming the culprit, a non-zero exit, and publishes nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspark.cli import main
from latentspark.errors import ConfigError, InputError


def run_cli(capsys, corpus: Path | str, root: Path, *extra: str, command: str = "run",
            ) -> tuple[int, str]:
    """``latentspark COMMAND`` in this process; ``vocab`` where only the vocabulary is checked
    (the corpus is read and checked the same way, without the later stages' Spark jobs)."""
    code = main([command, "--corpus", str(corpus), "--root", str(root),
                 "--set", "vocab.min_count=1", *extra])
    return code, capsys.readouterr().err


def vocabulary(root: Path) -> set[str]:
    """The words of the one published vocabulary under ``root``."""
    [version] = [p for p in (root / "vocab").iterdir() if (p / "manifest.json").exists()]
    return set(pq.read_table(version / "data").column("word").to_pylist())


def nothing_published(root: Path) -> bool:
    return not any(p.name == "manifest.json" for p in root.rglob("*")) if root.exists() else True


def test_missing_path(spark, tmp_path, capsys):
    code, err = run_cli(capsys, tmp_path / "nope", tmp_path / "run")
    assert code == InputError.exit_code
    assert "nope does not exist" in err
    assert nothing_published(tmp_path / "run")


def test_empty_corpus(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "empty.txt").write_text("")
    (tmp_path / "c" / "blank.txt").write_text("\n  \n...\n")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code
    assert "has no tokens" in err
    assert nothing_published(tmp_path / "run")


def test_directory_without_data_files(spark, tmp_path, capsys):
    (tmp_path / "c" / "sub").mkdir(parents=True)
    (tmp_path / "c" / "_SUCCESS").write_text("")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code and "holds no data files" in err


def test_non_utf8_bytes_name_the_file(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "good.txt").write_text("fine words here\n")
    (tmp_path / "c" / "latin1.txt").write_bytes("caf\xe9 cr\xe8me br\xfbl\xe9e\n".encode("latin-1"))
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code
    assert "not UTF-8" in err and "latin1.txt" in err
    assert nothing_published(tmp_path / "run")
    # with bad_records = skip, the bad line is dropped and the rest is counted
    code, _ = run_cli(capsys, tmp_path / "c", tmp_path / "run", "--set", "corpus.bad_records=skip",
                      command="vocab")
    assert code == 0
    assert vocabulary(tmp_path / "run") == {"fine", "words", "here"}


def test_valid_replacement_characters_are_not_errors(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("a \ufffd in valid text is fine\n", encoding="utf-8")
    code, _ = run_cli(capsys, tmp_path / "c", tmp_path / "run", command="vocab")
    assert code == 0
    # U+FFFD is neither a letter nor a digit: the tokenizer drops it, the rest is counted
    assert vocabulary(tmp_path / "run") == {"a", "in", "valid", "text", "is", "fine"}


def test_corrupt_gzip_names_the_file(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    data = gzip.compress(("some words in a line\n" * 5000).encode())
    (tmp_path / "c" / "broken.txt.gz").write_bytes(data[: len(data) // 2])
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code
    assert "broken.txt.gz" in err and "cannot read" in err
    assert nothing_published(tmp_path / "run")


def test_malformed_json_names_the_file(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.jsonl").write_text('{"text": "ok line"}\n{"text": "unterminated\n')
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code
    assert "malformed JSON" in err and "a.jsonl" in err


def test_parquet_without_text_column(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    pq.write_table(pa.table({"body": ["some text"]}), tmp_path / "c" / "a.parquet")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run")
    assert code == InputError.exit_code
    assert "no column 'text'" in err and "body" in err
    assert nothing_published(tmp_path / "run")


def test_config_typo_exits_2_before_spark_work(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("words\n")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run", "--set", "cooccur.widow=5")
    assert code == ConfigError.exit_code
    assert "cooccur.widow" in err
    conf = tmp_path / "bad.toml"
    conf.write_text("[cooccur]\nwindow = 'ten'\n")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run", "--config", str(conf))
    assert code == ConfigError.exit_code and "cooccur.window = 'ten'" in err
    assert nothing_published(tmp_path / "run")


def test_no_word_reaches_min_count(spark, tmp_path, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("every word once\n")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run", "--set", "vocab.min_count=5")
    assert code == InputError.exit_code and "lower vocab.min_count" in err


@pytest.mark.parametrize("where", ["date >>= 3", "nosuch = 1"])
def test_bad_where(spark, tmp_path, capsys, where):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("words\n")
    code, err = run_cli(capsys, tmp_path / "c", tmp_path / "run", "--where", where)
    assert code == ConfigError.exit_code and "corpus.where" in err
