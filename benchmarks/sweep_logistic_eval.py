"""Score the newest published embeddings under a run root; one JSON line per call.

Used by ``benchmarks/sweep_logistic.sh``:
``python benchmarks/sweep_logistic_eval.py ROOT LABEL OUT.jsonl``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import evaluate, read_vectors  # noqa: E402


def main(root: str, label: str, out: str) -> None:
    """Evaluate the latest ``embeddings`` version under ``root`` and append a row to ``out``."""
    base = Path(root) / "embeddings"
    ver = sorted(p for p in base.iterdir() if p.is_dir())[-1]
    m = json.loads((ver / "manifest.json").read_text())
    words, vec = read_vectors(ver / "data", order_by="id")
    ev = evaluate(words, vec, Path("/work/shared/data/eval"), gensim_analogies=False)
    g, p = ev["google"], m["parameters"]
    row = {"label": label, "version": ver.name, "loss": p.get("loss", "squared"),
           "iters": p["wals_iterations"], "power": p["observed_power"], "k": p["negatives"],
           "remove_top": p["remove_top"], "cg": p["cg_steps"], "total": g["total"],
           "sem": g["semantic"], "syn": g["syntactic"], "mul": g["cosmul"]["total"],
           "ws": ev["wordsim353"]["spearman"], "simlex": ev["simlex999"]["spearman"],
           "seeds": [(s.get("3cosadd", {}).get("rank"), s.get("3cosmul", {}).get("rank"))
                     for s in ev["seed_analogies"]],
           "factorize_s": m["timings"]["factorize"],
           "objective": [round(h["objective"], 1) for h in m["history"] if "objective" in h],
           "iter_s": [h["seconds"] for h in m["history"] if "objective" in h]}
    print(json.dumps(row), flush=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
