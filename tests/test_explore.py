"""The latent-space exploration: planted directions, arithmetic, groups, the report, the CLI."""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from latentspark.config import ExploreConfig
from latentspark.errors import ConfigError, InputError
from latentspark.explore import Space, explore, report_files, write_local
from latentspark.explore.directions import (
    analyse_concept,
    bootstrap_stats,
    cosine_matrix,
    direction_stats,
    unit_offsets,
)
from latentspark.explore.inputs import (
    Concept,
    Group,
    builtin_concepts,
    builtin_groups,
    concepts_from_analogies,
    parse_concepts,
    parse_expression,
)
from latentspark.explore.neighbours import evaluate_expression, group_similarity, interpolate
from latentspark.explore.plots import plot_matrix
from latentspark.explore.report import render_html

DIM = 64


def _orthonormal(rng: np.random.Generator, k: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(DIM, k)))
    return q.T


class Planted:
    """Synthetic vectors with known structure: pairs whose offsets follow planted directions."""

    def __init__(self, seed: int = 0, fillers: int = 300) -> None:
        self.rng = np.random.default_rng(seed)
        self.words: list[str] = []
        self.vectors: list[np.ndarray] = []
        self.directions = _orthonormal(self.rng, 3)  # kept out of every base vector
        for i in range(fillers):
            self.add(f"filler{i}", self.base())

    def add(self, word: str, vector: np.ndarray) -> None:
        self.words.append(word)
        self.vectors.append(np.asarray(vector, dtype=np.float64))

    def base(self) -> np.ndarray:
        """A random unit vector orthogonal to the planted directions."""
        v = self.rng.normal(size=DIM)
        v -= self.directions.T @ (self.directions @ v)
        return v / np.linalg.norm(v)

    def concept(self, name: str, direction: np.ndarray, n: int, noise: float = 0.0,
                noise_draws: np.ndarray | None = None, step: float = 0.8) -> Concept:
        """``n`` pairs ``a = x - step/2 g``, ``b = x + step/2 g (+ noise)``: equal norms, so
        without noise the unit offsets are exactly ``g``."""
        pairs = []
        for i in range(n):
            x = self.base()
            extra = 0.0 if noise_draws is None else noise * noise_draws[i]
            self.add(f"{name}_a{i}", x - step / 2 * direction)
            self.add(f"{name}_b{i}", x + step / 2 * direction + extra)
            pairs.append((f"{name}_a{i}", f"{name}_b{i}"))
        return Concept(name, "planted", tuple(pairs))

    def space(self, restrict: int = 100_000) -> Space:
        return Space(self.words, np.array(self.vectors, dtype=np.float32), True, restrict)


def _cos(x: np.ndarray, y: np.ndarray) -> float:
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


# ---------------------------------------------------------------------------------------------
# concept directions


def test_planted_direction_is_recovered_with_consistency_one():
    p = Planted()
    g = p.directions[0]
    concept = p.concept("gender", g, 12)
    random = Concept("random", "planted", tuple(
        (f"filler{2 * i}", f"filler{2 * i + 1}") for i in range(12)))
    space = p.space()
    entry, stats = analyse_concept(space, concept, resamples=200)
    assert entry["found"] == 12 and entry["missing"] == 0
    assert stats.consistency > 0.999 and entry["consistency"] == 1.0
    assert stats.explained > 0.999 and stats.pc_consistency > 0.999
    assert _cos(stats.mean_direction, g) > 0.999 and _cos(stats.pc_direction, g) > 0.999
    # control: random pairs sit near the chance level 1/sqrt(n), far below the planted one
    r_entry, r_stats = analyse_concept(space, random, resamples=200)
    assert r_stats.consistency < 0.5
    assert abs(r_entry["consistency"] - r_entry["chance"]) < 0.2


def test_orthogonal_directions_have_cosine_near_zero():
    p = Planted()
    g1, g2 = p.directions[0], p.directions[1]
    both = (g1 + g2) / np.sqrt(2)
    concepts = [p.concept("one", g1, 10), p.concept("two", g2, 10),
                p.concept("mixed", both, 10)]
    space = p.space()
    dirs = np.array([analyse_concept(space, c, 0)[1].mean_direction for c in concepts])
    cos = cosine_matrix(dirs)
    assert abs(cos[0, 1]) < 0.01
    assert cos[0, 2] == pytest.approx(1 / np.sqrt(2), abs=0.01)  # the test can tell them apart
    assert np.allclose(np.diag(cos), 1.0)


def test_noise_lowers_consistency_monotonically():
    p = Planted()
    g = p.directions[0]
    draws = p.rng.normal(size=(40, DIM)) / np.sqrt(DIM)
    levels = [0.0, 0.2, 0.5, 1.0, 2.0]
    space_concepts = [p.concept(f"noise{k}", g, 40, noise, draws) for k, noise in
                      enumerate(levels)]
    space = p.space()
    consistency = [analyse_concept(space, c, 0)[1].consistency for c in space_concepts]
    explained = [analyse_concept(space, c, 0)[1].explained for c in space_concepts]
    assert consistency[0] > 0.999
    assert all(a > b for a, b in zip(consistency, consistency[1:], strict=False)), consistency
    assert all(a > b for a, b in zip(explained, explained[1:], strict=False)), explained
    assert consistency[-1] < 0.7


def test_bootstrap_interval_contains_estimate_and_narrows_with_more_pairs():
    p = Planted()
    g = p.directions[0]
    draws = p.rng.normal(size=(400, DIM)) / np.sqrt(DIM)
    few = p.concept("few", g, 10, 0.8, draws[:10])
    many = p.concept("many", g, 400, 0.8, draws)
    space = p.space()
    widths = {}
    for c in (few, many):
        entry, _ = analyse_concept(space, c, resamples=500, confidence=0.95, seed=3)
        for key in ("consistency", "explained"):
            lo, hi = entry["intervals"][key]
            assert lo <= entry[key] <= hi, (c.name, key, entry)
        widths[c.name] = np.diff(entry["intervals"]["consistency"])[0]
    assert widths["many"] < 0.5 * widths["few"], widths
    # seeded: the same seed gives the same intervals, another seed others
    offsets, _, _ = unit_offsets(space, few.pairs)
    assert bootstrap_stats(offsets, 300, 0.95, 7) == bootstrap_stats(offsets, 300, 0.95, 7)
    assert bootstrap_stats(offsets, 300, 0.95, 7) != bootstrap_stats(offsets, 300, 0.95, 8)


@pytest.mark.parametrize("n", [30, 2100])  # both ways of computing them (small and large)
def test_weighted_second_moments(n):
    from latentspark.explore.directions import _weighted_second_moments

    rng = np.random.default_rng(0)
    u, w = rng.normal(size=(n, 100)), rng.random((3, n))
    expected = np.stack([u.T @ np.diag(x) @ u for x in w])
    assert np.allclose(_weighted_second_moments(u, w), expected)


def test_weak_concept_interval_is_shifted_by_the_bias():
    """Resampling duplicates pairs and lengthens their mean: unshifted, the interval of a
    random concept would lie above its own estimate."""
    p = Planted()
    random = Concept("random", "planted", tuple(
        (f"filler{2 * i}", f"filler{2 * i + 1}") for i in range(30)))
    entry, _ = analyse_concept(p.space(), random, resamples=1000)
    lo, hi = entry["intervals"]["consistency"]
    assert lo <= entry["consistency"] <= hi, entry
    assert entry["intervals"]["consistency_bias"] > 0.01


def test_missing_pairs_are_counted():
    p = Planted()
    c = p.concept("gender", p.directions[0], 3)
    c = Concept("gender", "planted", c.pairs + (("nosuchword", "filler1"),))
    entry, stats = analyse_concept(p.space(), c, 0)
    assert (entry["pairs"], entry["found"], entry["missing"]) == (4, 3, 1)
    assert entry["missing_pairs"] == ["nosuchword filler1"]
    one = Concept("one", "planted", c.pairs[:1])
    assert analyse_concept(p.space(), one, 0)[1] is None


def test_direction_stats_of_opposite_offsets():
    # +u and -u: the mean cancels, the principal component does not
    s = direction_stats(np.array([[1.0, 0.0], [-1.0, 0.0]]))
    assert s.consistency == pytest.approx(0.0)
    assert s.explained == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# arithmetic, interpolation, groups


def _royal() -> Planted:
    p = Planted()
    g = p.directions[0]
    for x, (a, b) in ((p.base(), ("man", "woman")), (p.base(), ("king", "queen"))):
        p.add(a, x - 0.4 * g)
        p.add(b, x + 0.4 * g)
    return p


def test_arithmetic_recovers_the_planted_analogy():
    space = _royal().space()
    out = evaluate_expression(space, "king - man + woman", 3)
    assert out["nearest"][0][0] == "queen" and out["nearest"][0][1] == pytest.approx(1.0)
    assert not {"king", "man", "woman"} & {w for w, _ in out["nearest"]}
    # coefficients: halfway between king and queen is closest to one of them
    half = evaluate_expression(space, "0.5 king + 0.5 * queen - 0 man", 5)
    assert half["terms"] == [[0.5, "king"], [0.5, "queen"], [-0.0, "man"]]
    assert half["nearest"][0][0] not in ("king", "queen")  # inputs are excluded
    unknown = evaluate_expression(space, "king - prince", 3)
    assert unknown["missing"] == ["prince"] and unknown["nearest"] == []


@pytest.mark.parametrize(("text", "terms"), [
    ("king - man + woman", [(1.0, "king"), (-1.0, "man"), (1.0, "woman")]),
    ("-man +2*woman", [(-1.0, "man"), (2.0, "woman")]),
    ("x-ray - 3", [(1.0, "x-ray"), (-1.0, "3")]),
    ("1.5e1 one", [(15.0, "one")]),
])
def test_parse_expression(text, terms):
    assert parse_expression(text) == terms


@pytest.mark.parametrize("text", ["", "king man", "king -", "king + * man", "2 *"])
def test_parse_expression_rejects(text):
    with pytest.raises(InputError, match="expression"):
        parse_expression(text)


def test_interpolation_endpoints_are_the_two_words():
    space = _royal().space()
    out = interpolate(space, "king", "queen", 5, 3)
    assert [pt["t"] for pt in out["points"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert out["points"][0]["nearest"][0] == ["king", 1.0]
    assert out["points"][-1]["nearest"][0] == ["queen", 1.0]
    assert interpolate(space, "king", "nobody", 5, 3)["missing"] == ["nobody"]


def test_group_similarity_within_exceeds_between_for_planted_clusters():
    p = Planted()
    groups = []
    for c in range(3):
        centre = p.base()
        members = [f"g{c}_{i}" for i in range(8)]
        for w in members:
            p.add(w, centre + 0.4 * p.rng.normal(size=DIM) / np.sqrt(DIM))
        groups.append(Group(f"cluster{c}", "planted", tuple(members)))
    groups.append(Group("random", "planted", tuple(f"filler{i}" for i in range(8))))
    groups.append(Group("tiny", "planted", ("filler9", "nope")))
    out = group_similarity(p.space(), groups)
    m = np.array(out["matrix"])
    assert out["names"] == ["cluster0", "cluster1", "cluster2", "random"]
    for i in range(3):
        assert m[i, i] > 0.7 and m[i, i] > m[i].max(where=np.arange(4) != i, initial=-1) + 0.5
    assert abs(m[3, 3]) < 0.2  # random words do not cluster
    assert out["within"] > out["between"] + 0.4
    assert out["groups"][-1]["missing"] == ["nope"]


# ---------------------------------------------------------------------------------------------
# word sets


def test_concept_files_and_analogy_sections():
    text = "# comment\n: gender\nking queen\nman woman\nking queen\n: plural\ncat cats\n"
    cs = parse_concepts(text, "mine.txt")
    assert [(c.name, len(c.pairs)) for c in cs] == [("gender", 2), ("plural", 1)]
    with pytest.raises(InputError, match=r"mine.txt.*'a b'"):
        parse_concepts(": x\nking queen prince\n", "mine.txt")
    with pytest.raises(InputError, match="before any"):
        parse_concepts("king queen\n", "mine.txt")
    from latentspark.evaluation import parse_analogies

    parsed = parse_analogies(": family\nboy girl king queen\nking queen boy girl\n"
                             ": gram9-plural-verbs\ngo goes say says\n", "q.txt")
    cs = concepts_from_analogies(parsed.rows)
    assert [(c.name, c.pairs) for c in cs] == [
        ("family", (("boy", "girl"), ("king", "queen"))),
        ("gram9-plural-verbs", (("go", "goes"), ("say", "says")))]


def test_builtin_sets_ship_with_the_package():
    names = {c.name: c for c in builtin_concepts()}
    assert {"gender", "plural", "comparative", "past_tense", "capital"} <= set(names)
    assert ("king", "queen") in names["gender"].pairs and len(names["gender"].pairs) >= 10
    groups = {g.name for g in builtin_groups()}
    assert {"royalty", "people", "animals", "countries", "numbers", "colours"} <= groups


# ---------------------------------------------------------------------------------------------
# the report


class _Tables(HTMLParser):
    """Collect every table's rows (cell texts), and every img src."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.refs: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.refs.append(a[key])
        if tag == "table":
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _fake_summary() -> dict:
    def sec(name, kind, q, c):
        return {"name": name, "kind": kind, "questions": q, "answerable": q, "oov": 0,
                "scored": q, "3cosadd": {"correct": c, "accuracy": c / q}}

    return {"index": "V1", "methods": ["3cosadd"], "oov": "skip", "analogies": {
        "sections": [sec("family", "semantic", 10, 6), sec("gram8-plural", "syntactic", 20, 5)],
        "semantic": sec("semantic", "semantic", 10, 6),
        "syntactic": sec("syntactic", "syntactic", 20, 5), "total": sec("total", "", 30, 11)},
        "similarity": [{"file": "ws.tsv", "pairs": 10, "oov_ratio": 0.0, "pearson": 0.5,
                        "spearman": 0.25}]}


def _exploration():
    p = _royal()
    concepts = [p.concept("gender", p.directions[0], 8, 0.3,
                          p.rng.normal(size=(8, DIM)) / np.sqrt(DIM)),
                p.concept("plural", p.directions[1], 8, 0.3,
                          p.rng.normal(size=(8, DIM)) / np.sqrt(DIM))]
    groups = [Group("a", "planted", tuple(f"filler{i}" for i in range(5))),
              Group("b", "planted", tuple(f"filler{i}" for i in range(5, 10)))]
    ex = ExploreConfig(expressions="king - man + woman,king - nobody", between="king queen",
                       bootstrap=100, map_concepts="gender", projection="gender,plural",
                       words="man,woman")
    return explore(p.space(), concepts, groups, ex, {"path": "runs/x/eval/V1",
                                                     "summary": _fake_summary()},
                   {"path": "runs/x/embeddings/V", "version": "V"})


def test_html_report_holds_the_json_numbers_and_embedded_pngs():
    result = _exploration()
    files = report_files(result)
    report = json.loads(files["report.json"])
    assert report == json.loads(json.dumps(result.report))
    page = files["report.html"].decode()
    parsed = _Tables()
    parsed.feed(page)
    # concept table: every figure printed as report.json holds it
    rows = {r[0]: r for r in parsed.tables["concepts"][1:]}
    head = parsed.tables["concepts"][0]
    for c in report["concepts"]:
        row = dict(zip(head, rows[c["name"]], strict=True))
        assert row["found"] == str(c["found"]) and row["missing"] == str(c["missing"])
        assert float(row["consistency"]) == c["consistency"]
        assert float(row["explained"]) == c["explained"]
        assert float(row["chance"]) == c["chance"]
        lo, hi = map(float, re.findall(r"-?\d+\.\d+", rows[c["name"]][head.index("interval")]))
        assert [lo, hi] == c["intervals"]["consistency"]
        assert float(rows[c["name"]][head.index("bias")]) == c["intervals"]["consistency_bias"]
    ind = report["independence"]
    cells = [[float(v) for v in r[1:]] for r in parsed.tables["independence"][1:]]
    assert cells == ind["cosine"] and ind["names"] == ["gender", "plural"]
    assert abs(ind["cosine"][0][1]) < 0.2
    groups = [[float(v) for v in r[1:]] for r in parsed.tables["groups"][1:]]
    assert groups == report["groups"]["matrix"]
    expr = {r[0]: r[1] for r in parsed.tables["expressions"][1:]}
    top, score = report["expressions"][0]["nearest"][0]
    assert top == "queen" and expr["king - man + woman"].startswith(f"queen\xa0{score:.3f}")
    assert "unknown: nobody" in expr["king - nobody"]
    evaluation = {r[0]: r[-1] for r in parsed.tables["evaluation"][1:]}
    assert evaluation["total"] == "36.67%"
    assert parsed.tables["similarity"][1][-2:] == ["0.500", "0.250"]
    # pictures: embedded PNGs that decode, small, one per figure; nothing external
    assert page.count('<img src="data:image/png;base64,') == len(result.figures) >= 6
    from PIL import Image

    for src in parsed.images:
        body = base64.b64decode(src.split(",", 1)[1])
        assert body.startswith(b"\x89PNG\r\n\x1a\n") and len(body) < 150_000
        with Image.open(io.BytesIO(body)) as im:
            im.verify()
    assert all(ref.startswith("data:") for ref in parsed.refs)
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", page)
    assert not re.search(r"(https?:)?//|url\(|@import", text)
    assert report["projection"]["cosine"] == ind["cosine"][0][1]
    assert set(report["figures"]) == set(result.figures) == {
        "accuracy.png", "consistency.png", "groups.png", "independence.png", "map.png",
        "projection.png"}


def test_html_escapes_words():
    result = _exploration()
    result.report["concepts"][0]["name"] = "<script>x</script>"
    page = render_html(result.report, result.figures)
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("module", ["matplotlib.figure", "PIL.Image"])
def test_pictures_without_the_extra_say_how_to_install_it(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # the import fails as if not installed
    with pytest.raises(ConfigError, match=re.escape("pip install 'latentspark[explore]'")):
        plot_matrix(["a"], [[1.0]], "cosine")


def test_write_local_replaces_the_folder(tmp_path):
    out = tmp_path / "report"
    write_local(str(out), {"a.txt": b"1", "old.txt": b"x"})
    write_local(str(out), {"a.txt": b"2"})
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert (out / "a.txt").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging leftovers


# ---------------------------------------------------------------------------------------------
# the command line, end to end on Spark


@pytest.fixture
def tiny(spark, tmp_path):
    """A bare Parquet embeddings folder (no manifest, no data/), an analogy file, a summary."""
    from latentspark import embeddings
    from latentspark.fs import HadoopFS

    p = _royal()
    for i, (a, b) in enumerate((("boy", "girl"), ("father", "mother"), ("he", "she"))):
        x = p.base()
        p.add(a, x - 0.4 * p.directions[0])
        p.add(b, x + 0.4 * p.directions[0] + 0.05 * i * p.directions[1])
    # the vocabulary is in frequency order: put the named words first
    order = sorted(range(len(p.words)), key=lambda i: p.words[i].startswith("filler"))
    words = [p.words[i] for i in order]
    vectors = np.array([p.vectors[i] for i in order], dtype=np.float32)
    emb = tmp_path / "emb"
    embeddings.write(HadoopFS(spark), str(emb),
                     embeddings.to_table(words, np.arange(len(words), 0, -1), vectors))
    questions = tmp_path / "questions-words.txt"
    questions.write_text(": family\nboy girl king queen\nman woman father mother\n"
                         "he she boy girl\nKing Queen prince princess\n")
    ev = tmp_path / "eval" / "V1"
    ev.mkdir(parents=True)
    (ev / "summary.json").write_text(json.dumps(_fake_summary()))
    return {"emb": emb, "questions": questions, "eval": ev}


def test_cli_end_to_end(tiny, tmp_path):
    from latentspark.cli import main

    out = tmp_path / "report"
    code = main(["explore", "-q", "--root", str(tmp_path / "run"), "--embeddings",
                 str(tiny["emb"]), "--analogies", str(tiny["questions"]), "--bootstrap", "50",
                 "--expression", "king - man + woman", "--between", "king", "queen",
                 "--steps", "3", "-k", "2", "--evaluation", str(tiny["eval"]),
                 "--out", str(out), "--set", "explore.restrict_vocab=100"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    family = next(c for c in report["concepts"] if c["name"] == "family")
    assert (family["pairs"], family["found"], family["missing"]) == (7, 6, 1)  # prince: OOV
    assert family["consistency"] > 0.99
    gender = next(c for c in report["concepts"] if c["name"] == "gender")
    assert gender["found"] == 5 and gender["missing"] > 0  # the built-ins, partly known here
    assert report["expressions"][0]["nearest"][0][0] == "queen"
    assert [p["nearest"][0][0] for p in report["between"][0]["points"]][::2] == ["king",
                                                                                 "queen"]
    assert report["embeddings"]["path"].endswith("emb")
    assert report["evaluation"]["path"] == str(tiny["eval"])
    assert "accuracy.png" in report["figures"]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(report["figures"])
    for name in report["figures"]:
        assert (out / name).stat().st_size < 150_000


def test_cli_publishes_the_stage_without_out(tiny, tmp_path):
    from latentspark.cli import main

    root = tmp_path / "run"
    code = main(["explore", "-q", "--root", str(root), "--embeddings", str(tiny["emb"]),
                 "--bootstrap", "0", "--set", "explore.builtin=false"])
    assert code == 0
    [version] = [p for p in (root / "explore").iterdir()]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["stage"] == "explore" and "report.html" in manifest["files"]
    report = json.loads((version / "report.json").read_text())
    assert report["concepts"] == [] and report["evaluation"] is None
    assert not list((root / "_staging").iterdir())


def test_cli_bad_inputs_exit_codes(tiny, tmp_path):
    from latentspark.cli import main

    args = ["explore", "-q", "--root", str(tmp_path / "run"), "--embeddings", str(tiny["emb"]),
            "--out", str(tmp_path / "r")]
    assert main([*args, "--expression", "king man"]) == InputError.exit_code
    assert main([*args, "--concepts", str(tmp_path / "missing.txt")]) == InputError.exit_code
    assert main(["explore", "-q", "--root", str(tmp_path / "empty")]) == 5  # nothing published
    assert not (tmp_path / "r").exists()
