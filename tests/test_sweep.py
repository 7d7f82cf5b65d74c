"""The quality benchmark's scoring (3CosMul, seed ranks, WordSim-353 split) and the sweep
script end to end on a tiny corpus."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.sweep_data import BENCH, bench_module, write_corpus, write_eval

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quality():
    """``benchmarks/quality.py`` as a module (it imports its sibling ``cooccur.py``)."""
    pytest.importorskip("gensim")
    return bench_module("quality")


def _planted(seed: int = 3, n: int = 60, dim: int = 6):
    """Random word vectors with analogies planted (``w2 - w1 + w3 ~ w4`` for some quads)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n)]
    vec = rng.normal(size=(n, dim))
    quads = []
    for k in range(8):
        a, b, c, d = 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3
        vec[d] = vec[b] - vec[a] + vec[c] + rng.normal(scale=0.3 * (k % 3), size=dim)
        quads.append((a, b, c, d))
    vec[n - 1] = 0.0  # a word without a vector: never an answer
    return words, vec.astype(np.float32), quads, rng


def _brute_cosmul(vec: np.ndarray, a: int, b: int, c: int, restrict: int) -> int:
    """3CosMul's answer by a plain loop over the candidates (Levy and Goldberg 2014)."""
    def cos(x: np.ndarray, y: np.ndarray) -> float:
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    best, best_score = -1, -math.inf
    for d in range(min(restrict, len(vec))):
        if d in (a, b, c) or not np.any(vec[d]):
            continue
        shifted = [(cos(vec[d], vec[w]) + 1) / 2 for w in (a, b, c)]
        score = shifted[1] * shifted[2] / (shifted[0] + 0.001)
        if score > best_score:
            best, best_score = d, score
    return best


def _brute_cosadd(vec: np.ndarray, a: int, b: int, c: int, restrict: int) -> int:
    unit = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-30)
    q = unit[b] - unit[a] + unit[c]
    best, best_score = -1, -math.inf
    for d in range(min(restrict, len(vec))):
        if d in (a, b, c) or not np.any(vec[d]):
            continue
        score = float(unit[d] @ q)
        if score > best_score:
            best, best_score = d, score
    return best


def test_answer_analogies_matches_brute_force(quality) -> None:
    words, vec, quads, rng = _planted()
    n = len(words)
    extra = rng.integers(0, n - 1, size=(120, 3))
    qs = np.array(quads + [tuple(x) + (0,) for x in extra if len(set(x)) == 3])
    a, b, c = qs[:, 0], qs[:, 1], qs[:, 2]
    unit = quality.unit_rows(vec)
    for restrict, max_cells in ((n, 10**7), (n, 7), (40, 50)):
        add, mul = quality.answer_analogies(unit, a, b, c, restrict, max_cells=max_cells)
        want_mul = [_brute_cosmul(vec, *q[:3], restrict) for q in qs]
        want_add = [_brute_cosadd(vec, *q[:3], restrict) for q in qs]
        assert mul.tolist() == want_mul
        assert add.tolist() == want_add
    # 3CosAdd finds most planted quads; 3CosMul, another ranking, does not always agree
    add, mul = quality.answer_analogies(unit, a, b, c, n)
    assert (add[: len(quads)] == qs[: len(quads), 3]).sum() >= 5
    assert (add != mul).any()


def _planted_eval(folder: Path, words: list[str], quads: list[tuple]) -> tuple[list, list]:
    """An evaluation folder over the planted words; returns the semantic and syntactic
    questions written."""
    ev = folder
    ev.mkdir()
    sem = quads[:3]
    syn = quads[3:] + [(0, 5, 9, 13), (2, 6, 10, 14)]
    (ev / "questions-words.txt").write_text(
        ": capital-common-countries\n"
        + "".join(" ".join(words[i] for i in q) + "\n" for q in sem)
        + ": gram7-past-tense\n"
        + "".join(" ".join(words[i] for i in q) + "\n" for q in syn)
        # a question with an unknown word is not answerable
        + "w0 w1 nosuchword w3\n",
        encoding="utf-8",
    )
    pairs = "".join(f"w{i}\tw{i + 1}\t{(i * 7) % 10}.0\n" for i in range(0, 40, 3))
    for f in ("wordsim353.tsv", "simlex999.txt"):
        (ev / f).write_text("# a\n# b\n" + pairs, encoding="utf-8")
    return sem, syn


def test_evaluate_cosmul_accuracy_is_brute_force(quality, tmp_path: Path) -> None:
    words, vec, quads, _ = _planted()
    ev = tmp_path / "eval"
    sem, syn = _planted_eval(ev, words, quads)
    out = quality.evaluate(words, vec, ev, seeds=["w1 - w0 + w2 = w3"])
    g = out["google"]
    right_mul = [_brute_cosmul(vec, *q[:3], len(words)) == q[3] for q in sem + syn]
    right_add = [_brute_cosadd(vec, *q[:3], len(words)) == q[3] for q in sem + syn]
    assert g["answerable"] == g["cosmul"]["answerable"] == len(sem) + len(syn)
    assert g["cosmul"]["correct"] == sum(right_mul)
    assert g["cosmul"]["total"] == pytest.approx(sum(right_mul) / len(right_mul))
    assert g["cosmul"]["semantic"] == pytest.approx(sum(right_mul[:3]) / 3)
    assert g["cosmul"]["syntactic"] == pytest.approx(sum(right_mul[3:]) / len(syn))
    # 3CosAdd: gensim's figures, and the numpy cross-check gives the same
    assert g["correct"] == sum(right_add) == g["cosadd_numpy"]["correct"]
    assert g["total"] == pytest.approx(g["cosadd_numpy"]["total"])
    fast = quality.evaluate(words, vec, ev, seeds=[], gensim_analogies=False)
    assert fast["google"]["total"] == pytest.approx(g["total"])
    assert fast["google"]["sections"] == g["sections"]
    assert math.isfinite(out["wordsim353"]["spearman"])
    assert out["seed_analogies"][0]["3cosadd"]["rank"] >= 1


def test_seed_analogy_ranks(quality) -> None:
    words, vec, quads, _ = _planted()
    a, b, c, d = quads[0]  # planted without noise: rank 1 by both methods
    seeds = [
        f"{words[b]} - {words[a]} + {words[c]} = {words[d]}",
        f"{words[5]} - {words[4]} + {words[6]} = {words[20]}",
        f"{words[5]} - {words[4]} + {words[6]} = {words[4]}",  # a question word: 0
        f"{words[5]} - {words[4]} + {words[6]} = unknown",  # not in the vocabulary
        f"{words[5]} - {words[4]} + {words[6]} = {words[-1]}",  # no vector
    ]
    got = quality.seed_analogy_ranks(words, vec, seeds, top=3)
    assert got[0]["3cosadd"]["rank"] == 1 and got[0]["3cosadd"]["top"][0] == words[d]
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True).clip(1e-30)
    for k, (qa, qb, qc, want) in enumerate([(a, b, c, d), (4, 5, 6, 20)]):
        for method in ("3cosadd", "3cosmul"):
            def score(x: int, method: str = method, q: tuple = (qa, qb, qc)) -> float:
                sa, sb, sc = (float(unit[x] @ unit[w]) for w in q)
                if method == "3cosadd":
                    return sb - sa + sc
                return (sb + 1) / 2 * (sc + 1) / 2 / ((sa + 1) / 2 + 1e-3)

            others = [x for x in range(len(words) - 1) if x not in (qa, qb, qc)]
            above = sum(score(x) > score(want) for x in others)
            assert got[k][method]["rank"] == above + 1
            best = max(others, key=lambda x: (score(x), -x))
            assert got[k][method]["top"][0] == words[best]
    assert got[2]["3cosadd"]["rank"] == 0 and got[2]["3cosmul"]["rank"] == 0
    assert got[3]["missing"] == ["unknown"] and got[3]["3cosadd"]["rank"] is None
    assert got[4]["3cosmul"]["rank"] is None
    assert quality.parse_seed("walked - walk + run = ran") == ("walk", "walked", "run", "ran")
    with pytest.raises(ValueError):
        quality.parse_seed("king + queen")


def test_ws353_split(quality, tmp_path: Path) -> None:
    """The committed split has Agirre et al.'s sizes on the real WordSim-353 layout, and an
    evaluation folder's own split file wins."""
    split = quality.WS353_SPLIT.read_text(encoding="utf-8").splitlines()
    rows = [ln.split("\t") for ln in split if ln and not ln.startswith("#")]
    assert len(rows) == 203
    assert sum(r[2] == "similar" for r in rows) == 100
    ev = write_eval(tmp_path / "eval")
    got = quality.ws353_split(ev)
    assert [ln.split("\t")[:2] for ln in got["similarity"]] == [
        ["king", "queen"], ["man", "woman"], ["walk", "run"], ["river", "happy"],
        ["berlin", "talk"], ["market", "queen"], ["old", "young"]]
    rel = [tuple(ln.split("\t")[:2]) for ln in got["relatedness"]]
    assert ("king", "queen") not in rel and ("river", "happy") in rel
    assert ("paris", "france") in rel and len(rel) == 12 - 4


@pytest.mark.slow
def test_sweep_end_to_end(tmp_path: Path) -> None:
    """Two configurations from one count: one row each, finite scores, the difference named,
    the counts reused. Slow: three Spark subprocesses (one to two minutes on an idle 2-core
    machine, seven at load 13)."""
    pytest.importorskip("gensim")
    corpus = write_corpus(tmp_path / "corpus")
    ev = write_eval(tmp_path / "eval")
    out = tmp_path / "out"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    cmd = [sys.executable, str(BENCH / "sweep.py"), "--tiny", "--corpus", str(corpus),
           "--eval-dir", str(ev), "--out-dir", str(out), "--min-count", "3", "--dim", "6",
           "--config", "eig0=factorize.eig=0.0 factorize.wals_iterations=1",
           # blocks (and so tasks) following the data, not the demo config's fixed eight: on
           # these 70 words each extra task is pure overhead
           "--base", "factorize.wals_iterations=1 factorize.power_iters=0 "
           "spark.shuffle_partitions=2 cooccur.blocks=0", "--fast-eval",
           "--scratch", str(tmp_path / "scratch")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    rows = result["rows"]
    assert [r["name"] for r in rows] == ["base", "eig0"]
    assert rows[0]["differs"] == {}
    assert rows[1]["differs"] == {"factorize.eig": 0.0}
    assert rows[0]["count_group"] == rows[1]["count_group"] == 1
    assert "count_s" in rows[0] and "count_s" not in rows[1]
    assert rows[0]["cooccur_version"] == rows[1]["cooccur_version"]
    for r in rows:
        ev_ = r["eval"]
        for value in (ev_["google"]["total"], ev_["google"]["cosmul"]["total"],
                      ev_["wordsim353"]["spearman"], ev_["simlex999"]["spearman"],
                      ev_["wordsim353_similarity"]["spearman"],
                      ev_["wordsim353_relatedness"]["spearman"]):
            assert math.isfinite(value)
        assert ev_["google"]["answerable"] > 0
        assert [s["3cosadd"]["rank"] is not None for s in ev_["seed_analogies"]] == [
            True, True, True]
    md = (out / "sweep.md").read_text(encoding="utf-8")
    table = [ln for ln in md.splitlines() if ln.startswith("| `")]
    assert [ln.split("|")[1].strip() for ln in table[:2]] == ["`base`", "`eig0`"]
    assert "`factorize.eig=0.0`" in table[1]
    assert "Summary" in md and result["command"] in md
    assert result["summary"]["largest"]["simlex999"]["name"] == "eig0"


def _record(kind: str, name: str, dim: int, score: float, ev: dict) -> dict:
    """A run record as quality.py makes them, every score column set to ``score``."""
    e = json.loads(json.dumps(ev))
    e["google"].update(total=score, semantic=score, syntactic=score)
    e["google"]["cosmul"]["total"] = score
    for k in ("wordsim353", "wordsim353_similarity", "wordsim353_relatedness", "simlex999"):
        e.setdefault(k, {"pearson": None, "oov_percent": 0.0, "pairs": 0})["spearman"] = score
    return {"name": name, "kind": kind, "dim": dim, "eval": e, "time_s": 10.0,
            "train_s": 9.0, "vocab_s": 1.0, "wall_s": 11.0, "peak_rss_bytes": 2**30,
            "returncode": 0, "vocab_size": 60, "overrides": ["factorize.eig=0"]}


def test_quality_compare_and_report_per_dimension(quality, tmp_path: Path) -> None:
    """Each configuration is compared with the skip-gram and CBOW of its own dimension, on
    every column; the report has a row per model and dimension and the seed analogies."""
    words, vec, quads, _ = _planted()
    ev = tmp_path / "eval"
    _planted_eval(ev, words, quads)
    base = quality.evaluate(words, vec, ev, seeds=["w1 - w0 + w2 = w3"],
                            gensim_analogies=False)
    runs = [
        _record("latentspark", "wals", 100, 0.5, base),
        _record("gensim", "gensim", 100, 0.4, base),
        _record("cbow", "cbow", 100, 0.45, base),
        _record("latentspark", "wals", 300, 0.5, base),
        _record("gensim", "gensim", 300, 0.6, base),
    ]
    runs[2]["eval"]["simlex999"]["spearman"] = 0.55  # CBOW wins one column at 100
    ratios, targets = quality.compare(runs)
    t100, t300 = targets["per_config"]["wals@100"], targets["per_config"]["wals@300"]
    assert t100["google_total"] and not t100["simlex999"] and not t100["all"]
    assert t100["peers"] == ["gensim", "cbow"] and t300["peers"] == ["gensim"]
    assert not t300["google_total"] and targets["met"] is False
    assert ratios["wals@100"]["delta_simlex999"] == pytest.approx(0.1)
    assert ratios["wals@100"]["delta_cbow_simlex999"] == pytest.approx(-0.05)
    assert ratios["cbow@100"]["delta_google_total"] == pytest.approx(0.05)
    result = {
        "date": "2026-12-01T00:00:00", "command": "python benchmarks/quality.py --dims 100,300",
        "params": {"corpus": "c", "lines": 0, "dim": 100, "dims": [100, 300],
                   "sample_interval": 0.2, "mllib_driver_memory": "1g"},
        "machine": {"nproc": 2, "total_ram_bytes": 2**34, "load_average_at_start": [0.1],
                    "python": "3", "versions": {}},
        "runs": runs, "ratios": ratios, "targets": targets,
    }
    md = quality.render_markdown(result)
    assert "| gensim CBOW | 100 |" in md and "| latentspark `wals` | 300 |" in md
    assert "WS-353 sim" in md and "3CosMul" in md and "`w1 - w0 + w2 = w3`" in md
    assert result["command"] in md


def test_quality_repeats_compare_the_means(quality, tmp_path: Path) -> None:
    """With --repeats, each model's repeats become one record of mean scores with their range,
    and the targets are judged on the means: one unlucky repeat does not decide a column."""
    words, vec, quads, _ = _planted()
    ev = tmp_path / "eval"
    _planted_eval(ev, words, quads)
    base = quality.evaluate(words, vec, ev, seeds=["w1 - w0 + w2 = w3"],
                            gensim_analogies=False)
    runs = []
    for rep, (ours, sg) in enumerate([(0.50, 0.52), (0.56, 0.48), (0.53, 0.50)], start=1):
        runs += [_record("latentspark", "wals", 100, ours, base) | {"repeat": rep},
                 _record("gensim", "gensim", 100, sg, base) | {"repeat": rep, "time_s": 5.0 * rep}]
    runs[3]["eval"]["simlex999"]["spearman"] = 0.40   # skip-gram's second repeat, one column
    means = quality.mean_records(runs)
    assert [(m["name"], m["repeats"]) for m in means] == [("wals", [1, 2, 3]),
                                                          ("gensim", [1, 2, 3])]
    ours, sg = means
    assert ours["eval"]["google"]["total"] == pytest.approx(0.53)
    assert ours["spread"]["google_total"] == pytest.approx([0.50, 0.56])
    assert sg["eval"]["simlex999"]["spearman"] == pytest.approx((0.52 + 0.40 + 0.50) / 3)
    assert sg["time_s"] == pytest.approx(10.0)
    ratios, targets = quality.compare(means)
    t = targets["per_config"]["wals"]
    # ours loses repeat 1 on every column, yet its means are ahead on every one
    assert t["all"] and targets["met"]
    assert ratios["wals"]["delta_google_total"] == pytest.approx(0.53 - 0.50)
    assert ratios["wals"]["time"] == pytest.approx(1.0)
    # a failed repeat leaves the model without a mean rather than averaging fewer runs
    failed = [dict(r) for r in runs]
    failed[4] = {k: v for k, v in failed[4].items() if k != "eval"} | {"returncode": 1}
    assert "eval" not in quality.mean_records(failed)[0]
    result = {
        "date": "2026-12-01T00:00:00",
        "command": "python benchmarks/quality.py --repeats 3",
        "params": {"corpus": "c", "lines": 0, "dim": 100, "dims": [100], "repeats": 3,
                   "sample_interval": 0.2, "mllib_driver_memory": "1g"},
        "machine": {"nproc": 2, "total_ram_bytes": 2**34, "load_average_at_start": [0.1],
                    "python": "3", "versions": {}},
        "runs": runs, "means": means, "ratios": ratios, "targets": targets,
    }
    md = quality.render_markdown(result)
    assert "| latentspark `wals` (seed 2) | 100 |" in md
    assert "Means over 3 repeats" in md and "| 0.530 (0.500-0.560) |" in md
    assert md.count("- `wals`:") == 1 and "seeds 1 to 3" in md


def test_gensim_cbow_worker(quality, tmp_path: Path) -> None:
    """The CBOW peer is gensim's Word2Vec with sg=0, written like the skip-gram one."""
    corpus = write_corpus(tmp_path / "corpus", n=200)
    out = tmp_path / "cbow"
    out.mkdir()
    files = sorted(corpus.glob("*.txt"))
    rec = quality.gensim_worker(files, 5, out, sg=0)
    assert rec["sg"] == 0 and rec["vocab_size"] > 20
    words, vectors = quality.read_vectors(out / "vectors.parquet")
    assert len(words) == rec["vocab_size"] and vectors.shape == (len(words), 5)
