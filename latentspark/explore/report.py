"""Rendering and writing the report: one self-contained ``report.html``, ``report.json`` and
the PNGs (:func:`report_files`), written atomically to a local folder (:func:`write_local`).

The page is one file with a handful of tables and embedded pictures, so :func:`html.escape` and
f-strings are simpler than a template engine and the dependency it would bring.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import shutil
import tempfile
from typing import Any

from latentspark.explore.analysis import Exploration
from latentspark.explore.space import DECIMALS

logger = logging.getLogger(__name__)


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.{DECIMALS}f}"


def _ci(entry: dict[str, Any], key: str) -> str:
    iv = entry.get("intervals")
    return "" if not iv else f"[{_f(iv[key][0])}, {_f(iv[key][1])}]"


def _bias(entry: dict[str, Any], key: str) -> str:
    iv = entry.get("intervals")
    return "" if not iv else f"{iv[key + '_bias']:+.{DECIMALS}f}"


def _table(table_id: str, head: list[str], rows: list[list[str]],
           row_keys: list[str] | None = None) -> str:
    """An HTML table; cells are given already escaped."""
    out = [f'<table id="{table_id}"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for k, row in enumerate(rows):
        key = f' data-key="{html.escape(row_keys[k])}"' if row_keys else ""
        out.append(f"<tr{key}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _img(figures: dict[str, bytes], name: str, alt: str) -> str:
    if name not in figures:
        return ""
    data = base64.b64encode(figures[name]).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


def _nearest(lst: list[list]) -> str:
    return ", ".join(f"{html.escape(w)}&nbsp;{_f(s)}" for w, s in lst)


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
th{background:#eee}figure{margin:1em 0}img{max-width:100%}
figcaption{font-size:12px;color:#555}.note{font-size:13px;color:#444}"""


def render_html(report: dict[str, Any], figures: dict[str, bytes]) -> str:
    """One self-contained HTML page with the report's tables and embedded pictures.

    Every number is printed from ``report`` with :data:`DECIMALS` decimals, i.e. exactly as
    ``report.json`` holds it; pictures are ``data:image/png;base64`` URIs.
    """
    e = html.escape
    emb = report["embeddings"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>latentspark: the latent space</title>", f"<style>{_CSS}</style>",
             "</head><body>", "<h1>The latent space</h1>",
             f'<p class="note">Embeddings {e(str(emb.get("version") or emb.get("path")))}: '
             f'{emb["words"]:,} words, dimension {emb["dim"]}. Nearest words among the first '
             f'{report["settings"]["restrict_vocab"]:,}; cosines of unit vectors.</p>']
    ev = report.get("evaluation")
    if ev and ev.get("analogies"):
        an, methods = ev["analogies"], ev["methods"]
        rows = [[e(s["name"]), f"{s['questions']:,}", f"{s['answerable']:,}"]
                + [f"{s[m]['accuracy']:.2%}" for m in methods]
                for s in an["sections"] + [an["semantic"], an["syntactic"], an["total"]]]
        parts += ["<h2>Evaluation</h2>",
                  f'<p class="note">From {e(ev["path"])} (index {e(str(ev["index"]))}).</p>',
                  _table("evaluation", ["section", "questions", "answerable", *methods], rows),
                  _img(figures, "accuracy.png", "analogy accuracy by section")]
        if ev.get("similarity"):
            parts.append(_table("similarity", ["file", "pairs", "OOV", "Pearson", "Spearman"], [
                [e(s["file"]), f"{s['pairs']:,}", f"{s['oov_ratio']:.1f}%",
                 _f(s.get("pearson")), _f(s.get("spearman"))] for s in ev["similarity"]]))
    st = report["settings"]
    parts += ["<h2>Concept directions</h2>",
              '<p class="note">For the unit offsets of each concept\'s pairs: consistency is '
              "the mean cosine to their mean direction, PC consistency the mean cosine to "
              "their first principal component, explained the share of their variance along "
              f"it; chance is 1/&radic;found, the consistency of random offsets. Intervals: "
              f"{st['confidence']:.0%} bootstrap percentile intervals from "
              f"{st['bootstrap']:,} resamples of the pairs (seed {st['seed']}), shifted by the "
              "bootstrap's bias estimate (bias: how far resampling inflates the statistic); "
              "stability: interval of the cosine of resampled mean directions to the full "
              "one.</p>"]
    concepts = report["concepts"]
    parts.append(_table("concepts", ["concept", "source", "pairs", "found", "missing",
                                     "consistency", "interval", "bias", "chance",
                                     "PC consistency", "explained", "interval", "bias",
                                     "stability"],
                        [[e(c["name"]), e(os.path.basename(c["source"])), str(c["pairs"]),
                          str(c["found"]), str(c["missing"]), _f(c["consistency"]),
                          _ci(c, "consistency"), _bias(c, "consistency"), _f(c["chance"]),
                          _f(c["pc_consistency"]), _f(c["explained"]), _ci(c, "explained"),
                          _bias(c, "explained"), _ci(c, "stability")] for c in concepts],
                        [c["name"] for c in concepts]))
    parts.append(_img(figures, "consistency.png", "consistency and explained share per "
                      "concept, with bootstrap intervals"))
    ind = report["independence"]
    if ind["names"]:
        parts += ["<h2>Independence</h2>", '<p class="note">Cosine between the concepts\' mean '
                  "directions.</p>",
                  _table("independence", ["", *map(e, ind["names"])],
                         [[e(n), *map(_f, row)] for n, row in zip(ind["names"], ind["cosine"],
                                                                  strict=True)],
                         ind["names"]),
                  _img(figures, "independence.png", "cosine between concept directions")]
    if "projection" in report:
        p = report["projection"]
        parts += [f"<h2>{e(p['x'])} vs {e(p['y'])}</h2>",
                  _img(figures, "projection.png", f"pairs projected onto the {p['x']} and "
                       f"{p['y']} directions (cosine {_f(p['cosine'])})")]
    parts += ["<h2>Map</h2>", _img(figures, "map.png", "PCA map of chosen words, arrows from "
                                   "a to b for concept pairs")]
    parts += ["<h2>Arithmetic</h2>",
              _table("expressions", ["expression", "nearest (input words excluded)"],
                     [[e(x["expression"]), _nearest(x["nearest"]) or
                       f"unknown: {e(', '.join(x['missing']))}"] for x in report["expressions"]],
                     [x["expression"] for x in report["expressions"]])]
    parts.append("<h2>Interpolation</h2>")
    for b in report["between"]:
        if b["missing"]:
            parts.append(f"<p>{e(b['a'])} → {e(b['b'])}: unknown "
                         f"{e(', '.join(b['missing']))}</p>")
            continue
        parts.append(f"<h3>{e(b['a'])} → {e(b['b'])}</h3>")
        parts.append(_table(f"between-{e(b['a'])}-{e(b['b'])}", ["t", "nearest"],
                            [[_f(p["t"]), _nearest(p["nearest"])] for p in b["points"]]))
    g = report["groups"]
    parts += ["<h2>Neighbourhoods</h2>",
              f'<p class="note">Mean cosine within groups {_f(g["within"])}, between groups '
              f'{_f(g["between"])}.</p>']
    if g["names"]:
        parts.append(_table("groups", ["", *map(e, g["names"])],
                            [[e(n), *map(_f, row)] for n, row in zip(g["names"], g["matrix"],
                                                                     strict=True)], g["names"]))
        parts.append(_img(figures, "groups.png", "mean cosine within and between word groups"))
    missing = [f"{e(x['name'])}: {e(', '.join(x['missing']))}" for x in g["groups"]
               if x["missing"]]
    if missing:
        parts.append('<p class="note">Words not in the vocabulary: ' + "; ".join(missing)
                     + "</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# writing


def report_files(result: Exploration) -> dict[str, bytes]:
    """The files of a report: ``report.html``, ``report.json`` and the PNGs."""
    files = dict(result.figures)
    files["report.json"] = json.dumps(result.report, indent=2, ensure_ascii=False).encode()
    files["report.html"] = render_html(result.report, result.figures).encode()
    return files


def write_local(out: str, files: dict[str, bytes]) -> str:
    """Write files into a sibling staging folder, then rename it onto ``out``.

    A reader never sees a half-written report: ``out`` is either the old folder or the new
    one (the old one is moved aside for the instant between the two renames, then deleted).

    Returns
    -------
    str
        The absolute output folder.
    """
    out = os.path.abspath(out)
    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.staging-", dir=parent)
    try:
        for fname, body in files.items():
            with open(os.path.join(staging, fname), "wb") as fh:
                fh.write(body)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
            os.rename(out, os.path.join(old, name))
        os.rename(staging, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("explore: wrote %d files to %s", len(files), out)
    return out
