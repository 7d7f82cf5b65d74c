"""The report's pictures: PCA map, projection onto two concept directions, consistency bars,
cosine heat maps and analogy accuracy, as PNG bytes.

Drawn with matplotlib's object API on an Agg canvas (no display, no pyplot state) and reduced
to 256-colour PNGs with pillow: a handful of bars, arrows and heat maps need nothing a
higher-level plotting library would add. Both are the optional extra ``latentspark[explore]``,
imported only when a picture is drawn.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

import numpy as np

from latentspark.errors import ConfigError
from latentspark.explore.space import Space

#: picture resolution: 100 dpi keeps every PNG well under 150 KB
DPI = 100


def _optional(module: str):
    """Import ``module`` of the ``explore`` extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"the pictures of latentspark explore need matplotlib and pillow "
                          f"({exc}); pip install 'latentspark[explore]'") from None


def _figure(width: float, height: float):
    agg = _optional("matplotlib.backends.backend_agg")
    fig = _optional("matplotlib.figure").Figure(figsize=(width, height), dpi=DPI)
    agg.FigureCanvasAgg(fig)
    return fig


def _literal(fig) -> None:
    """Show every text of the figure literally: words and concept names are data, and a
    ``$`` in one would start matplotlib's math text (and can crash it)."""
    for item in fig.findobj(_optional("matplotlib.text").Text):
        item.set_parse_math(False)


def _layout(fig) -> None:
    _literal(fig)
    fig.tight_layout()


def _png(fig) -> bytes:
    image = _optional("PIL.Image")
    _literal(fig)
    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI)
    raw.seek(0)
    # a 256-colour palette: charts have few colours, and it keeps every PNG well under
    # 150 KB; saved by PIL without a timestamp, so the same report gives the same bytes
    with image.open(raw) as im:
        small = im.convert("RGB").quantize(256, method=image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="png", optimize=True)
    return out.getvalue()


def _label(ax, x: float, y: float, text: str, color: str = "black") -> None:
    ax.annotate(text, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8,
                color=color, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                   "alpha": 0.6})


_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def plot_map(space: Space, sets: list[tuple[str, list[tuple[str, str]]]], words: list[str]
             ) -> bytes:
    """PCA map (2-D) of the words of some pairs and some loose words, arrows ``a -> b``.

    Parameters
    ----------
    sets : list of (name, pairs)
        Pairs drawn as arrows, one colour per set.
    words : list of str
        More words, drawn as points.
    """
    ids = list(dict.fromkeys(i for _, pairs in sets for p in pairs for i in map(space.id, p)
                             if i is not None))
    ids += [i for i in dict.fromkeys(map(space.id, words)) if i is not None and i not in ids]
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    if len(ids) >= 3:
        x = space.unit[ids].astype(np.float64)
        x -= x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        xy = dict(zip(ids, x @ vt[:2].T, strict=True))
        share = (s[:2] ** 2).sum() / (s ** 2).sum()
        for c, (name, pairs) in enumerate(sets):
            colour = _COLOURS[c % len(_COLOURS)]
            for k, (a, b) in enumerate(pairs):
                pa_, pb = xy[space.id(a)], xy[space.id(b)]
                ax.annotate("", pb, pa_, arrowprops={"arrowstyle": "->", "color": colour,
                                                     "alpha": 0.7})
                ax.plot(*np.array([pa_, pb]).T, "o", color=colour, ms=3,
                        label=name if k == 0 else None)
                _label(ax, *pa_, a, colour)
                _label(ax, *pb, b, colour)
        for w in words:
            i = space.id(w)
            if i is not None:
                ax.plot(*xy[i], "o", color="gray", ms=3)
                _label(ax, *xy[i], w, "dimgray")
        ax.set_title(f"PCA of {len(ids)} words ({share:.0%} of their variance)", fontsize=10)
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.grid(alpha=0.3)
    _layout(fig)
    return _png(fig)


def plot_projection(space: Space, x_name: str, x_dir: np.ndarray, y_name: str,
                    y_dir: np.ndarray, sets: list[tuple[str, list[tuple[str, str]]]]) -> bytes:
    """Pairs projected onto two concept directions (cosines of the unit word vectors)."""
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    for c, (name, pairs) in enumerate(sets):
        colour = _COLOURS[c % len(_COLOURS)]
        for k, (a, b) in enumerate(pairs):
            pa_, pb = (np.array([space.unit[space.id(w)] @ x_dir, space.unit[space.id(w)] @ y_dir])
                       for w in (a, b))
            ax.annotate("", pb, pa_, arrowprops={"arrowstyle": "->", "color": colour,
                                                 "alpha": 0.7})
            ax.plot(*np.array([pa_, pb]).T, "o", color=colour, ms=3,
                    label=f"{name} pairs" if k == 0 else None)
            _label(ax, *pa_, a, colour)
            _label(ax, *pb, b, colour)
    cos = float(x_dir @ y_dir / (np.linalg.norm(x_dir) * np.linalg.norm(y_dir)))
    ax.set_xlabel(f"cosine to the {x_name} direction")
    ax.set_ylabel(f"cosine to the {y_name} direction")
    ax.set_title(f"{x_name} vs {y_name} (cosine of the directions {cos:.3f})", fontsize=10)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    _layout(fig)
    return _png(fig)


def plot_consistency(entries: list[dict[str, Any]]) -> bytes:
    """Consistency and explained share per concept, with their bootstrap intervals."""
    rows = [e for e in entries if e["consistency"] is not None]
    fig = _figure(9, 0.8 + 0.28 * max(len(rows), 1))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))
    for ax, key, title in ((axes[0], "consistency", "consistency (mean cosine to the mean "
                            "direction)"), (axes[1], "explained", "variance share of the "
                                            "first component")):
        val = np.array([e[key] for e in rows])
        err = None
        if rows and all(e["intervals"] for e in rows):
            lo = np.array([e["intervals"][key][0] for e in rows])
            hi = np.array([e["intervals"][key][1] for e in rows])
            err = np.vstack([np.maximum(val - lo, 0), np.maximum(hi - val, 0)])
        ax.barh(y, val, xerr=err, color="tab:blue", alpha=0.75, capsize=2)
        if key == "consistency":
            ax.plot([e["chance"] for e in rows], y, "|", color="black", ms=10,
                    label="chance (1/\u221an)")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [e["name"] for e in rows], fontsize=8)
    axes[0].invert_yaxis()
    _layout(fig)
    return _png(fig)


def plot_matrix(names: list[str], matrix: list[list[float]], title: str) -> bytes:
    """A labelled heat map of a symmetric cosine matrix."""
    n = len(names)
    size = 2.5 + 0.35 * n
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    mat = np.array(matrix, dtype=float).reshape(n, n)
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(mat[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=10)
    _layout(fig)
    return _png(fig)


def plot_accuracy(summary: dict[str, Any]) -> bytes | None:
    """Analogy accuracy by section from an evaluation ``summary.json``, or ``None``."""
    an = summary.get("analogies")
    if not an:
        return None
    methods = summary.get("methods", ["3cosadd"])
    rows = an["sections"] + [an["semantic"], an["syntactic"], an["total"]]
    fig = _figure(8, 1 + 0.3 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    height = 0.8 / len(methods)
    for m, method in enumerate(methods):
        acc = [r[method]["accuracy"] for r in rows]
        bars = ax.barh(y + m * height, acc, height, label=method, color=_COLOURS[m])
        for bar, a in zip(bars, acc, strict=True):
            ax.text(bar.get_width() + 0.005, bar.get_y() + bar.get_height() / 2, f"{a:.1%}",
                    va="center", fontsize=7)
    ax.set_yticks(y + height * (len(methods) - 1) / 2, [r["name"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("accuracy (answerable questions)" if summary.get("oov") == "skip"
                  else "accuracy (all questions)")
    ax.set_title(f"Analogy accuracy by section (index {summary.get('index')})", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    _layout(fig)
    return _png(fig)
