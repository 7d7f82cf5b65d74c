"""The whole exploration: :func:`explore` computes every number and picture of the report
from the space, the concepts, the groups and the ``[explore]`` settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentspark.config import ExploreConfig
from latentspark.explore.directions import analyse_concept, cosine_matrix, unit_offsets
from latentspark.explore.inputs import Concept, Group, parse_between, split_list, unique_names
from latentspark.explore.neighbours import evaluate_expression, group_similarity, interpolate
from latentspark.explore.plots import (
    plot_accuracy,
    plot_consistency,
    plot_map,
    plot_matrix,
    plot_projection,
)
from latentspark.explore.space import Space, rounded

logger = logging.getLogger(__name__)


@dataclass
class Exploration:
    """What :func:`explore` computes: the report's numbers and its pictures (PNG bytes)."""

    report: dict[str, Any]
    figures: dict[str, bytes] = field(default_factory=dict)


def _pairs_for_plot(space: Space, concept: Concept, limit: int) -> list[tuple[str, str]]:
    _, found, _ = unit_offsets(space, concept.pairs)
    return found[:limit]


def explore(space: Space, concepts: list[Concept], groups: list[Group], ex: ExploreConfig,
            evaluation: dict[str, Any] | None = None, meta: dict[str, Any] | None = None
            ) -> Exploration:
    """Compute every number and picture of the report.

    Parameters
    ----------
    space : Space
        The embeddings.
    concepts, groups : list
        Concepts and word groups to analyse.
    ex : ExploreConfig
        Expressions, interpolations, bootstrap and picture settings.
    evaluation : dict, optional
        ``{"path": ..., "summary": <an evaluator summary.json>}`` for the accuracy chart.
    meta : dict, optional
        Recorded as the report's ``embeddings`` entry (path, version, ...).

    Returns
    -------
    Exploration
    """
    concepts, groups = unique_names(concepts), unique_names(groups)
    report: dict[str, Any] = {
        "embeddings": {**(meta or {}), "words": len(space.words), "dim": space.dim},
        "settings": {"bootstrap": ex.bootstrap, "confidence": ex.confidence, "seed": ex.seed,
                     "k": ex.k, "steps": ex.steps, "restrict_vocab": space.restrict}}
    figures: dict[str, bytes] = {}
    logger.info("explore: %d concepts, %d groups over %d words x %d", len(concepts),
                len(groups), len(space.words), space.dim)
    entries, stats = [], {}
    for c in concepts:
        entry, st = analyse_concept(space, c, ex.bootstrap, ex.confidence, ex.seed)
        entries.append(entry)
        if st is not None:
            stats[c.name] = st
    report["concepts"] = entries
    names = list(stats)
    matrix = cosine_matrix(np.array([stats[n].mean_direction for n in names])) if names else []
    report["independence"] = {"names": names,
                              "cosine": [[rounded(v) for v in row] for row in matrix]}
    logger.info("explore: arithmetic and interpolation")
    report["expressions"] = [evaluate_expression(space, e, ex.k)
                             for e in split_list(ex.expressions)]
    report["between"] = [interpolate(space, a, b, ex.steps, ex.k)
                         for a, b in parse_between(ex.between)]
    report["groups"] = group_similarity(space, groups)
    report["evaluation"] = None
    if evaluation is not None:
        s = evaluation["summary"]
        report["evaluation"] = {"path": evaluation["path"], "index": s.get("index"),
                                "methods": s.get("methods"),
                                "analogies": s.get("analogies"),
                                "similarity": s.get("similarity")}
    logger.info("explore: pictures")
    if stats:
        figures["consistency.png"] = plot_consistency(entries)
        figures["independence.png"] = plot_matrix(names, report["independence"]["cosine"],
                                                  "cosine between concept directions")
    by_name = {c.name: c for c in concepts}
    map_sets = [(n, _pairs_for_plot(space, by_name[n], ex.max_pairs))
                for n in split_list(ex.map_concepts) if n in by_name]
    extra = split_list(ex.words)
    if map_sets or extra:
        figures["map.png"] = plot_map(space, map_sets, extra)
    proj = split_list(ex.projection)
    if len(proj) == 2 and all(n in stats for n in proj):
        figures["projection.png"] = plot_projection(
            space, proj[0], stats[proj[0]].mean_direction, proj[1],
            stats[proj[1]].mean_direction,
            [(n, _pairs_for_plot(space, by_name[n], ex.max_pairs)) for n in proj])
        report["projection"] = {"x": proj[0], "y": proj[1], "cosine": rounded(
            stats[proj[0]].mean_direction @ stats[proj[1]].mean_direction)}
    elif proj:
        logger.warning("explore.projection = %r: needs two analysed concepts; known: %s",
                       ex.projection, ", ".join(names))
    if report["groups"]["names"]:
        figures["groups.png"] = plot_matrix(report["groups"]["names"],
                                            report["groups"]["matrix"],
                                            "mean cosine within (diagonal) and between groups")
    if evaluation is not None:
        png = plot_accuracy(evaluation["summary"])
        if png is not None:
            figures["accuracy.png"] = png
    report["figures"] = sorted(figures)
    return Exploration(report, figures)
