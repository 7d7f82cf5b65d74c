"""The scaling benchmark's pure helpers on a tiny corpus: subsets, stage cuts, the fit, the
report and the plot (nothing is run through Spark, nothing is timed)."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


@pytest.fixture(scope="module")
def scaling():
    """``benchmarks/scaling.py`` as a module (it imports its sibling ``cooccur.py``)."""
    sys.path.insert(0, str(BENCH))
    try:
        import scaling as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def tiny_corpus(folder: Path) -> Path:
    """Three parts of 6, 4 and 2 tokens (one gzipped), plus a file to be ignored."""
    folder.mkdir()
    (folder / "part-0.txt").write_text("a b c\nd e f\n")
    with gzip.open(folder / "part-1.txt.gz", "wt") as fh:
        fh.write("a b\nc d\n")
    (folder / "part-2.txt").write_text("x y\n")
    (folder / "_SUCCESS").write_text("")
    return folder


def test_subsets_take_whole_files_and_repeat_the_corpus_in_partition_folders(scaling,
                                                                             tmp_path):
    corpus = tiny_corpus(tmp_path / "c")
    parts = scaling.file_tokens(corpus, tmp_path / "cache.json")
    assert parts == [("part-0.txt", 6), ("part-1.txt.gz", 4), ("part-2.txt", 2)]
    assert scaling.file_tokens(corpus, tmp_path / "cache.json") == parts   # from the cache
    assert scaling.plan_subset(parts, 5) == [(0, "part-0.txt")]
    assert scaling.plan_subset(parts, 10) == [(0, "part-0.txt"), (0, "part-1.txt.gz")]
    twice = scaling.plan_subset(parts, 24)
    assert len(twice) == 6 and {c for c, _ in twice} == {0, 1}
    dest = scaling.build_subset(corpus, twice, tmp_path / "out" / "24")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == [f"copy={c}/{n}" for c in (0, 1) for n, _ in parts]
    assert (dest / "copy=1" / "part-0.txt").read_text() == "a b c\nd e f\n"
    # rebuilding replaces the folder
    scaling.build_subset(corpus, [(0, "part-2.txt")], dest)
    assert [p.name for p in dest.rglob("*.txt")] == ["part-2.txt"]
    assert scaling.size_label(6) == "6M" and scaling.size_label(0.5) == "0.5M"


def test_stages_are_cut_at_the_pipeline_log_lines(scaling):
    log = "\n".join([
        "noise before",
        "2026-12-01 20:00:01,000 INFO latentspark.pipeline: pipeline: stage 1/4 vocab (0 s so far)",
        "2026-12-01 20:00:03,500 INFO latentspark.pipeline: pipeline: stage 2/4 cooccur (2 s so "
        "far)",
        "2026-12-01 20:00:04,000 INFO latentspark.x: pipeline: stage broken",
    ])
    marks = scaling.parse_stage_marks(log)
    assert [n for _, n in marks] == ["vocab", "cooccur"]
    assert marks[1][0] - marks[0][0] == pytest.approx(2.5)
    t0 = marks[0][0]
    trace = [(t0 - 1, 100, 10, 50), (t0 + 1, 300, 10, 200), (t0 + 3, 250, 10, 100),
             (t0 + 5, 400, 20, 300)]
    fig = scaling.stage_figures(trace, marks, t0 - 2, t0 + 6)
    assert list(fig) == ["startup", "vocab", "cooccur"]
    assert fig["vocab"] == {"seconds": 2.5, "peak_rss_bytes": 300, "jvm_bytes": 200,
                            "driver_python_bytes": 10, "python_workers_bytes": 90}
    assert fig["cooccur"]["peak_rss_bytes"] == 400 and fig["startup"]["seconds"] == 2.0


def test_the_exponent_fit_and_the_report(scaling, tmp_path):
    assert scaling.fit_exponent([1e6, 2e6, 4e6], [10, 20, 40]) == pytest.approx(1.0)
    assert scaling.fit_exponent([1e6, 4e6], [10, 20]) == pytest.approx(0.5)
    assert scaling.fit_exponent([1e6], [10]) is None
    assert scaling.fit_exponent([1e6, 2e6], [None, 3]) is None

    def run(label, tokens, seconds):
        stages = {s: {"seconds": seconds / 5, "peak_rss_bytes": 2**30, "jvm_bytes": 2**29,
                      "driver_python_bytes": 2**27, "python_workers_bytes": 2**28}
                  for s in scaling.STAGES}
        return {"label": label, "returncode": 0, "tokens": tokens, "wall_s": seconds,
                "peak_rss_bytes": 2**31, "stages": stages, "files": 1, "vocab_size": 10,
                "nonzeros": 20, "jvm_max_heap": "1024m", "load_average_at_start": [1.0],
                "load_average_at_end": [1.5]}

    runs = [run("1M", 1_000_000, 10.0), run("2M", 2_000_000, 18.0)]
    result = {"date": "2026-12-01T20:00:00", "corpus": "c", "sample_interval": 0.2,
              "machine": {"nproc": 2, "total_ram_bytes": 2**34}, "command": "scaling.py",
              "runs": runs, "summary": scaling.summarise(runs),
              "gensim": {"label": "2M", "returncode": 0, "wall_s": 36.0,
                         "peak_rss_bytes": 2**28, "load_average_at_start": [1.0]}}
    assert result["summary"]["us_per_token"] == {"1M": 10.0, "2M": 9.0}
    assert result["summary"]["time_exponent"] < 1
    text = scaling.render_markdown(result)
    assert "| 2M | 1 | 2,000,000 |" in text and "Linear or better in time: **yes**" in text
    assert "time 0.50x, peak RSS 8.00x" in text
    scaling.plot(result, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_the_script_has_a_help(scaling):
    assert "--scratch" in scaling.build_parser().format_help()
    assert scaling.parse_sizes("6,12") == [6.0, 12.0]
