"""See the latent space: concept directions, word arithmetic, neighbourhoods, pictures.

The embeddings are vocabulary-sized (at most ``vocab.max_size`` rows), so this stage reads them
to the driver once (:func:`latentspark.embeddings.read`) and does everything else in numpy on
unit vectors, i.e. in the cosine geometry the evaluator uses:

**Concepts.** A concept is a set of word pairs ``(a, b)``, e.g. ``king queen``, ``man woman``
for gender. Its pairs come from the package's curated sets (``latentspark/concepts/*.txt``),
from user files in the same format (``: name`` header, then ``a b`` lines) and from the
sections of the analogy files (a question ``a b c d`` gives the pairs ``(a, b)`` and
``(c, d)``; each section keeps its distinct pairs). For the unit offsets
``u_i = (x_b - x_a) / |x_b - x_a|`` of the pairs found in the vocabulary:

* the *mean direction* is the normalised mean of the ``u_i``; its *consistency* is the mean
  cosine of the ``u_i`` to it (which equals the length of their mean: 1 when every pair points
  the same way, about ``1 / sqrt(n)`` for ``n`` random offsets);
* the *principal direction* is the first principal component of the offsets taken with both
  signs (``+u_i`` and ``-u_i``, as Bolukbasi et al. 2016 do with centred pairs), i.e. the top
  eigenvector of ``mean(u_i u_i^T)``, signed to agree with the mean; *explained* is the share
  of the offsets' variance along it (its eigenvalue, as the trace is 1);
* bootstrap intervals of both (percentile intervals shifted by the bootstrap's estimate of
  the statistic's bias, see :func:`~latentspark.explore.directions.shifted_interval`),
  and of the cosine of the resampled mean directions to the full one (*stability*), from
  resampling the pairs (seeded); *chance* is ``1 / sqrt(n)``, the consistency that ``n``
  random offsets would show.

Concepts are compared by the cosine between their mean directions (independence).

**Arithmetic** ``king - man + woman`` sums coefficient times unit vector and reports the
nearest words, the input words excluded. **Interpolation** reports the nearest words at evenly
spaced points of the chord from one word's unit vector to another's (the endpoints included,
nothing excluded). **Neighbourhoods**: the mean cosine within each word group and between
every two groups.

Everything goes into ``report.json``, and the same numbers into one self-contained
``report.html`` (PNG pictures embedded as ``data:`` URIs; no external resources), written
atomically to ``explore.out`` or published as the stage ``explore`` under the run root.

The modules, in the order they build on one another:

==========================  ===================================================================
:mod:`.inputs`              concept, group, expression and ``between`` parsing; the curated sets
                            (package data); reading the files and the evaluation summary
:mod:`.space`               :class:`Space`: unit vectors, word look-up, nearest words; rounding
:mod:`.directions`          concept directions, consistency, bootstrap intervals
:mod:`.neighbours`          arithmetic, interpolation, group similarity
:mod:`.plots`               the PNG pictures (matplotlib, pillow: ``latentspark[explore]``)
:mod:`.analysis`            :func:`explore`: every number and picture of the report
:mod:`.report`              ``report.html`` and ``report.json``; writing a local folder
==========================  ===================================================================
"""

from latentspark.explore.analysis import Exploration, explore
from latentspark.explore.inputs import (
    Concept,
    Group,
    load_concepts,
    load_evaluation,
    load_groups,
)
from latentspark.explore.report import report_files, write_local
from latentspark.explore.space import Space

__all__ = ["Concept", "Exploration", "Group", "Space", "explore", "load_concepts",
           "load_evaluation", "load_groups", "report_files", "write_local"]
