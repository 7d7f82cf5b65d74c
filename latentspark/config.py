"""Typed configuration: every default in one place, validated when it is loaded.

A configuration is built in three layers, each overriding the previous one:

1. the defaults declared on the dataclasses below (``conf/default.toml`` mirrors them, and a
   test keeps the two equal);
2. an optional TOML file (``--config conf/cluster.toml``), which may set any subset of keys;
3. ``--set section.key=value`` overrides from the command line, where ``value`` is parsed as a
   TOML value (``10``, ``true``, ``"text"``) and falls back to a bare string.

An unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` naming the
key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latentspark.errors import ConfigError

DEFAULT_TOKEN_PATTERN = r"[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*"


def _opt(default: Any, help: str, *, choices: tuple | None = None, lo: float | None = None,
         hi: float | None = None) -> Any:
    """Declare a config field with its help text and allowed values."""
    meta = {"help": help, "choices": choices, "lo": lo, "hi": hi}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class SparkConfig:
    """How the SparkSession is built when a job is not given one."""

    master: str = _opt("", "Spark master URL; empty means spark-submit's, else local[*]")
    app_name: str = _opt("latentspark", "Spark application name")
    shuffle_partitions: int = _opt(
        0, "spark.sql.shuffle.partitions; 0 means 2 x the default parallelism", lo=0, hi=100_000)
    arrow_batch_lines: int = _opt(
        10_000, "lines per Arrow batch handed to the Python kernels", lo=1, hi=10_000_000)
    arrow_batch_mb: int = _opt(
        8, "most MiB of one Arrow batch handed to the Python kernels (a co-occurrence row is "
        "never split); the factorization's per-entry temporaries are about 16 times a batch, "
        "in each Python worker and in the JVM's Arrow buffers", lo=1, hi=2047)
    verbose: bool = _opt(False, "show Spark's console progress bars and its (and Hadoop's and "
                         "py4j's) WARN and INFO logs; false: no bars, those logs at ERROR "
                         "(the command line's --verbose sets it)")
    progress_interval: int = _opt(
        10, "seconds between the progress lines (stderr) of a running Spark stage; a stage "
        "that ran 2 s or more prints one line when it ends; 0 turns them off", lo=0, hi=86_400)
    conf: dict = _opt({}, "extra spark.* settings, passed to the session builder as they are")
    java_options: str = _opt(
        "", "extra HotSpot options (space-separated) for the driver JVM when latentspark "
        "starts it (not under spark-submit), after its own; e.g. -XX:TieredStopAtLevel=1 "
        "for small runs (less CPU spent compiling Java, slower long loops); ignored when "
        "spark.conf sets spark.driver.extraJavaOptions")


@dataclass
class CorpusConfig:
    """Where the text is and how to read it."""

    path: str = _opt("", "corpus path, glob or Hadoop URI (file://, hdfs://, s3a://)")
    format: str = _opt("auto", "input format; auto picks it from the file names",
                       choices=("auto", "text", "json", "parquet"))
    text_field: str = _opt("text", "JSON field or Parquet column holding the text")
    where: str = _opt("", "Spark SQL filter over partition columns, e.g. date >= '2026-11-01'")
    bad_records: str = _opt("fail", "what to do with undecodable or malformed records",
                            choices=("fail", "skip"))
    max_line_bytes: int = _opt(4 * 2**20, "a longer line (or record) is bad input: most likely "
                               "a file without newlines", lo=1024, hi=2**31 - 1)


@dataclass
class TokenizeConfig:
    """Tokenisation, done with Spark built-ins."""

    mode: str = _opt("regex", "regex: tokens match `pattern`; whitespace: split on spaces",
                     choices=("regex", "whitespace"))
    nfkc: bool = _opt(True, "apply Unicode NFKC normalisation before lower-casing")
    lowercase: bool = _opt(True, "lower-case the text")
    pattern: str = _opt(DEFAULT_TOKEN_PATTERN, "Java regex a token matches (mode = regex)")


@dataclass
class VocabConfig:
    """Vocabulary stage."""

    min_count: int = _opt(5, "drop words seen fewer times than this", lo=1, hi=10**12)
    max_size: int = _opt(400_000, "keep at most this many words (most frequent first)",
                         lo=1, hi=50_000_000)


@dataclass
class CooccurConfig:
    """Co-occurrence stage."""

    window: int = _opt(10, "symmetric window: words at most this far apart co-occur",
                       lo=1, hi=1_000)
    weighting: str = _opt("harmonic", "harmonic: a pair at distance d adds 1/d (GloVe); "
                          "uniform: it adds 1", choices=("harmonic", "uniform"))
    dynamic_window: bool = _opt(False, "scale weights by (window - d + 1) / window, the "
                                "expected effect of word2vec's sampled window")
    subsample: float = _opt(0.0, "frequent-word subsampling threshold t (word2vec: 1e-5); "
                            "a word of frequency f is dropped with probability 1 - sqrt(t/f); "
                            "0 disables", lo=0.0, hi=1.0)
    seed: int = _opt(1, "seed of the subsampling draws", lo=0, hi=2**31 - 1)
    blocks: int = _opt(0, "row blocks in the output, one reduce task each: rows with id % "
                       "blocks == k are in block=k/; 0 follows the corpus and the cluster: one "
                       "per million tokens up to 2 x Spark's default parallelism, and one per "
                       "500 million above that (an incremental root keeps the count it started "
                       "with, 2 x the default parallelism); fewer than the cores is warned "
                       "about", lo=0, hi=100_000)
    dense_words: int = _opt(2048, "pairs of the this many most frequent words are summed in a "
                            "dense array inside each task (memory: 8 * n^2 bytes)",
                            lo=0, hi=8192)
    buffer_pairs: int = _opt(4_000_000, "pairs a task holds, unsummed, before it sums them and "
                             "hands them to Spark (memory: 8 bytes each, about 40 while it "
                             "sums them, per running task)",
                             lo=10_000, hi=500_000_000)


#: up to this dimension, the ``-1`` settings of ``ppmi_wals`` take the values tuned at 100
#: (4 iterations, ``eig`` 0.25); above it those measured at 300
SMALL_DIM = 200


@dataclass
class FactorizeConfig:
    """Factorization of the co-occurrences into embeddings."""

    method: str = _opt("ppmi_wals", "ppmi_wals: PPMI factorized over all word pairs with "
                       "SGNS's weights, from a PPMI-SVD start; ppmi_svd: truncated SVD of "
                       "positive PMI; glove: GloVe's weighted least squares by alternating "
                       "exact solves", choices=("ppmi_wals", "ppmi_svd", "glove"))
    dim: int = _opt(100, "dimension of the word vectors", lo=1, hi=4096)
    seed: int = _opt(1, "seed of the random initialisation / projection", lo=0, hi=2**31 - 1)
    add_contexts: bool = _opt(True, "publish word + context vectors (w + c) instead of w alone")
    iterations: int = _opt(15, "glove: alternating iterations (each solves both sides once)",
                           lo=1, hi=10_000)
    x_max: float = _opt(10.0, "glove: weights saturate at this count, f(x) = min(1, "
                        "(x / x_max) ** alpha); the paper uses 100, small corpora prefer 10",
                        lo=1e-9, hi=1e12)
    alpha: float = _opt(0.75, "glove: exponent of the weighting function", lo=0.0, hi=10.0)
    l2: float = _opt(1.0, "glove: L2 penalty on the vectors (not the biases); keeps the "
                     "solves of rare words well posed", lo=0.0, hi=1e6)
    tolerance: float = _opt(0.0, "glove, ppmi_wals: stop when an iteration improves the "
                            "objective by less than this fraction; 0 runs every iteration",
                            lo=0.0, hi=1.0)
    cds: float = _opt(0.75, "ppmi_svd, ppmi_wals: context-distribution smoothing exponent; "
                      "-1: follow the dimension, 0.5 up to 200 dimensions and 0.75 above",
                      lo=-1.0, hi=1.0)
    neg: float = _opt(1.0, "ppmi_svd: shift PMI by log(neg) before clipping (SGNS's k); 1 "
                      "means no shift", lo=1.0, hi=1e6)
    eig: float = _opt(0.5, "ppmi_svd, ppmi_wals: eigenvalue weighting p, vectors are U * S**p; "
                      "-1: follow the dimension, 0.25 up to 200 dimensions and 0.5 above",
                      lo=-1.0, hi=1.0)
    negatives: float = _opt(5.0, "ppmi_wals: weight of the unobserved pairs, as SGNS's number "
                            "of negative samples k", lo=0.0, hi=1e6)
    wals_iterations: int = _opt(2, "ppmi_wals: alternating iterations after the SVD start; "
                                "-1: follow the dimension, 4 up to 200 dimensions and 2 "
                                "above", lo=-1, hi=1000)
    cg_steps: int = _opt(0, "ppmi_wals: solve each long row by at most this many "
                         "conjugate-gradient steps from its previous vector instead of "
                         "exactly (0: exact solves)", lo=0, hi=100_000)
    cg_tolerance: float = _opt(1e-3, "ppmi_wals with cg_steps: stop a row's conjugate "
                               "gradients once its residual is below this fraction of its "
                               "right-hand side", lo=0.0, hi=1.0)
    negative_pmi: bool = _opt(False, "ppmi_wals: fit the observed pairs' PMI unclipped "
                              "(negative values kept, as SGNS's optimum keeps them) instead "
                              "of positive PMI; unobserved pairs are still pulled to 0")
    observed_power: float = _opt(1.0, "ppmi_wals: observed pairs weigh X_ij ** this (plus "
                                 "their negative-sample weight); below 1 the most frequent "
                                 "pairs dominate less", lo=0.0, hi=1.0)
    loss: str = _opt("squared", "ppmi_wals: loss of the observed pairs; squared: weighted "
                     "least squares toward PPMI; logistic: SGNS's logistic loss, one Newton "
                     "(IRLS) step per row and half-iteration after the first (unobserved pairs "
                     "keep the squared pull to 0); sgns: logistic, and the unobserved pairs on "
                     "SGNS's negative term expanded at negative_center",
                     choices=("squared", "logistic", "sgns"))
    negative_center: float = _opt(0.0, "ppmi_wals with loss sgns: the score w . c at which "
                                  "the unobserved pairs' negative term -log s(-x) is expanded "
                                  "to second order; 0 pulls them towards -2, below 0 further "
                                  "down and more weakly; 1: follow the dimension, -1.5 up to "
                                  "200 dimensions and 0 above", lo=-8.0, hi=1.0)
    negative_center_rows: bool = _opt(False, "ppmi_wals with loss sgns: expand each word's "
                                      "(and context's) negative term at its own mean score "
                                      "over its negatives, from its previous vector, instead "
                                      "of at negative_center")
    ridge: float = _opt(1e-3, "ppmi_wals: L2 penalty on each vector, times its word's "
                        "co-occurrence mass", lo=0.0, hi=1e6)
    oversample: int = _opt(20, "ppmi_svd, ppmi_wals: extra columns of the random projection",
                           lo=0, hi=10_000)
    power_iters: int = _opt(3, "ppmi_svd, ppmi_wals: power iterations of the range finder "
                            "(each is two passes over the matrix)", lo=0, hi=100)
    warm_start: bool = _opt(False, "pipeline, glove and ppmi_wals: start from the LATEST "
                            "model's vectors for the words it shares (no SVD start)")
    remove_top: int = _opt(0, "every method: post-process the vectors by 'all-but-the-top' "
                           "(Mu and Viswanath 2018): subtract their mean and their projections "
                           "on this many leading principal directions; 0: off; -1: follow the "
                           "dimension, (dim / 100) ** 2 rounded (2 at 100, 9 at 300; at least 2, "
                           "at most dim / 10); below dim",
                           lo=-1, hi=4095)
    tasks: int = _opt(0, "tasks of every factorization pass: each co-occurrence block is cut "
                      "into ceil(tasks / cooccur.blocks) row ranges, one task each, whatever "
                      "the files are; 0 follows the counts: one per 250,000 non-zeros up to 3 x "
                      "spark.default.parallelism, and one per 16 million above that",
                      lo=0, hi=1_000_000)

    def _by_dim(self, small, large):
        """``small`` up to :data:`SMALL_DIM` dimensions, ``large`` above: what the settings
        that follow the dimension resolve to."""
        return small if self.dim <= SMALL_DIM else large

    def wals_iteration_count(self) -> int:
        """The iterations ``ppmi_wals`` runs: ``wals_iterations``, or for ``-1`` 4 up to 200
        dimensions and 2 above.

        On corpus24m-tokens at 100 dimensions the iterations after the second lift the
        syntactic analogies and SimLex-999 a little each (+0.007 and +0.003 for the third,
        ``benchmarks/results/sweep_ridge.md``; +0.002 and +0.001 for the fourth,
        ``sweep_it4.md``), and together with :meth:`eig_value` and :meth:`remove_top_depth`
        at 100 they give the best worst-case margin against skip-gram measured
        (``quality100_it4.md``), in 0.72x its time. At 300 dimensions an iteration costs two
        to three times as much and two already matched skip-gram, whose training time the
        pipeline is held to (``benchmarks/results/quality300.md``).

        Examples
        --------
        >>> [FactorizeConfig(dim=d, wals_iterations=-1).wals_iteration_count()
        ...  for d in (50, 100, 200, 300)]
        [4, 4, 4, 2]
        >>> FactorizeConfig(dim=100, wals_iterations=5).wals_iteration_count()
        5
        """
        if self.wals_iterations >= 0:
            return self.wals_iterations
        return self._by_dim(4, 2)

    def eig_value(self) -> float:
        """The eigenvalue weighting ``p`` of the vectors ``U S^p``: ``eig``, or for ``-1``
        0.25 up to 200 dimensions and 0.5 above.

        A smaller ``p`` gives the weaker directions more weight. At 100 dimensions 0.25 with
        two directions removed raised SimLex-999 by 0.007-0.008 over 0.5 with one, for
        0.002-0.004 of the syntactic analogies (``benchmarks/results/sweep_it4.md``,
        ``sweep_eig100.jsonl``); at 300, 0.5 is the setting measured level with or ahead of
        skip-gram (``quality300.md``).

        Examples
        --------
        >>> [FactorizeConfig(dim=d, eig=-1).eig_value() for d in (100, 200, 300)]
        [0.25, 0.25, 0.5]
        >>> FactorizeConfig(dim=100, eig=0.0).eig_value()
        0.0
        """
        if self.eig >= 0:
            return self.eig
        return self._by_dim(0.25, 0.5)

    def cds_value(self) -> float:
        """The context-distribution smoothing exponent: ``cds``, or for ``-1`` 0.5 up to 200
        dimensions and 0.75 above.

        With ``loss = "sgns"`` at 100 dimensions 0.5 raised every column over 0.75
        (``benchmarks/results/sweep_sgns_levers.md``); at 300, 0.5 together with
        :meth:`negative_center_value`'s -1.5 lowered SimLex-999 (0.383 against 0.394 for
        0.75 and 0, ``quality_cds.md`` and ``quality300.md``).

        Examples
        --------
        >>> [FactorizeConfig(dim=d, cds=-1).cds_value() for d in (100, 300)]
        [0.5, 0.75]
        """
        if self.cds >= 0:
            return self.cds
        return self._by_dim(0.5, 0.75)

    def negative_center_value(self) -> float:
        """Where ``loss = "sgns"`` expands the unobserved pairs' negative term:
        ``negative_center``, or for ``1`` -1.5 up to 200 dimensions and 0 above.

        Examples
        --------
        >>> [FactorizeConfig(dim=d, negative_center=1).negative_center_value()
        ...  for d in (100, 300)]
        [-1.5, 0.0]
        """
        if self.negative_center <= 0:
            return self.negative_center
        return self._by_dim(-1.5, 0.0)

    def remove_top_depth(self) -> int:
        """The number of leading directions all-but-the-top removes: ``remove_top``, or for
        ``-1`` ``(dim / 100) ** 2`` rounded, at least 2 and at most ``dim / 10`` (at least 1;
        and below ``dim``).

        Mu and Viswanath suggest ``dim / 100``; on corpus24m-tokens SimLex-999 kept rising up
        to 8-16 directions at 300 dimensions (``benchmarks/results/sweep300.md``), so the depth
        grows faster than the dimension. At 100 dimensions 1 was the balance with ``eig`` 0.5;
        with the 0.25 that :meth:`eig_value` takes there, 2 gave the best worst-case margin
        (``quality100_it4.md``).

        Examples
        --------
        >>> [FactorizeConfig(dim=d, remove_top=-1).remove_top_depth()
        ...  for d in (1, 4, 20, 50, 100, 200, 300, 1000)]
        [0, 1, 2, 2, 2, 4, 9, 100]
        >>> FactorizeConfig(dim=300, remove_top=2).remove_top_depth()
        2
        """
        if self.remove_top >= 0:
            return self.remove_top
        # the rounding, then the bounds: at least two directions, at most a tenth of them
        depth = min(max(2, round((self.dim / 100) ** 2)), max(1, self.dim // 10))
        return min(depth, self.dim - 1)


@dataclass
class RunConfig:
    """Where artifacts go."""

    root: str = _opt("runs/default", "run root: local path or Hadoop URI under which each "
                     "stage publishes")
    keep_versions: int = _opt(2, "published versions of each stage to keep", lo=1, hi=1000)
    lock_ttl: int = _opt(600, "seconds a run's lease on the run root lives without renewal "
                         "(renewed every quarter of it while the run lasts); a killed run's "
                         "lease is broken after this", lo=10, hi=86_400)
    lock_wait: int = _opt(0, "seconds a run waits for another run's lease on the same root "
                          "before exiting 75; 0 refuses at once", lo=0, hi=86_400)


@dataclass
class IndexConfig:
    """Index stage: Annoy indexes (angular metric) over unit vectors."""

    embeddings: str = _opt("", "embeddings to index: a published version dir or a Parquet dir "
                           "of that schema; empty means the newest published under the run root")
    n_trees: int = _opt(50, "Annoy trees per shard (more: better recall, bigger files)",
                        lo=1, hi=10_000)
    seed: int = _opt(42, "Annoy seed of every shard; same input and config give identical files",
                     lo=0, hi=2**31 - 1)
    shards: int = _opt(2, "index shards; word id i goes to shard i % shards; shards are built "
                       "in parallel, one per task", lo=1, hi=10_000)
    on_disk_build: bool = _opt(False, "build each shard straight into a file (Annoy's "
                               "on_disk_build) instead of in memory; for shards too big for RAM")
    search_k: int = _opt(-1, "nodes Annoy inspects per query; -1 means n_trees x candidates",
                         lo=-1, hi=10**9)
    cache_dir: str = _opt("", "local folder where each worker keeps verified copies of the index "
                          "files; empty means the system temporary folder")


@dataclass
class EvaluateConfig:
    """Evaluation: analogies, word similarity, neighbours."""

    mode: str = _opt("auto", "exact: blocked matrix products over all candidates; annoy: "
                     "candidates from the index, re-ranked exactly; ivf (neighbour lists "
                     "only, analogies and pairs stay exact): each word scores the words of "
                     "its ivf_probes nearest k-means clusters, approximate; auto: exact, "
                     "except for the bulk neighbour export and neighbour lists: ivf above 4 "
                     "million words x dimensions (the measured crossover), annoy above 400 "
                     "million (see the guide)",
                     choices=("auto", "exact", "annoy", "ivf"))
    analogies: list = _opt([], "analogy files in questions-words.txt format (': section' "
                           "headers), paths or URIs")
    similarity: list = _opt([], "word-pair files (word, word, score; tab or space separated, "
                            "# comments), paths or URIs")
    methods: str = _opt("both", "analogy scoring: 3CosAdd, 3CosMul (Levy & Goldberg 2014) or both",
                        choices=("both", "3cosadd", "3cosmul"))
    restrict_vocab: int = _opt(300_000, "as in gensim: only the first N words (by frequency) are "
                               "candidates, and questions or pairs with a word outside them are "
                               "out of vocabulary", lo=1, hi=10**9)
    case_insensitive: bool = _opt(True, "compare words upper-cased; a word with several case "
                                  "variants takes the most frequent one's vector (gensim's rule)")
    oov: str = _opt("skip", "questions and pairs with an out-of-vocabulary word: skip them "
                    "(gensim's default) or count them wrong / similarity 0 (dummy4unknown)",
                    choices=("skip", "wrong"))
    strict: bool = _opt(False, "reject a malformed question or pair line instead of reporting "
                        "and skipping it")
    k: int = _opt(10, "neighbours per word (neighbour lists, bulk export, recall@k)",
                  lo=1, hi=10_000)
    words: list = _opt([], "words whose neighbours go into the report")
    seed_analogies: list = _opt(["king - man + woman = queen",
                                 "paris - france + germany = berlin",
                                 "walked - walk + run = ran"],
                                "analogies 'b - a + c = d' whose top answers and the expected "
                                "word's rank the report shows")
    candidates: int = _opt(100, "annoy mode: candidates taken from each shard before the exact "
                           "re-ranking", lo=1, hi=100_000)
    recall_sample: int = _opt(1000, "words sampled to measure Annoy's recall@k against exact "
                              "search; 0 skips it", lo=0, hi=10_000_000)
    seed: int = _opt(1, "seed of the recall sample", lo=0, hi=2**31 - 1)
    block_rows: int = _opt(32_768, "exact mode: vocabulary rows per matrix-product block "
                           "(memory: 4 x block_rows x query_chunk bytes per score matrix)",
                           lo=256, hi=10_000_000)
    query_chunk: int = _opt(512, "exact mode: queries scored together in one block product",
                            lo=1, hi=100_000)
    ivf_clusters: int = _opt(0, "ivf mode: spherical k-means clusters of the index's words "
                             "(each Python worker fits them, seeded by evaluate.seed, and keeps "
                             "clusters x dimensions centroids); 0: about the square root of "
                             "the words", lo=0, hi=65_536)
    ivf_probes: int = _opt(0, "ivf mode: clusters each word's neighbours are searched in (at "
                           "most ivf_clusters): more is slower and closer to exact; 0: the "
                           "measured default, a fixed share of the clusters", lo=0, hi=65_536)
    partitions: int = _opt(0, "tasks for the question, pair and neighbour jobs; 0 means the "
                           "default parallelism", lo=0, hi=100_000)
    worker_vectors_mb: int = _opt(4096, "neighbour lists: the most index data (MiB) one Python "
                                  "worker maps; a bigger index is searched one target shard "
                                  "at a time, and Spark merges each shard's top k per word "
                                  "(0: always so)", lo=0, hi=10**9)


@dataclass
class PipelineConfig:
    """Scheduled retraining: incremental counts, model versions, bad partitions."""

    model_root: str = _opt("", "where model versions and the LATEST pointer live; empty "
                           "means <run.root>/models")
    incremental: bool = _opt(True, "keep counts per input partition (key=value/ folder) and "
                             "count only new or changed ones")
    vocabulary: str = _opt("frozen", "frozen: the vocabulary of the first run is kept, so "
                           "counts stay incremental; rebuild: rebuilt from all partitions each "
                           "run, and every partition is recounted when it changes",
                           choices=("frozen", "rebuild"))
    bad_files: str = _opt("fail", "a new partition's file that is empty, unreadable, binary, "
                          "not UTF-8 or has an over-long line: fail the run, or skip the file",
                          choices=("fail", "skip"))
    parallel_parts: int = _opt(4, "new partitions checked and counted at the same time (each "
                               "is its own Spark job)", lo=1, hi=256)
    keep_models: int = _opt(5, "model versions kept (LATEST's is never removed)", lo=1,
                            hi=10_000)
    drift: bool = _opt(True, "write a drift report against the LATEST model")
    drift_sample: int = _opt(10_000, "words whose top-10 neighbour overlap the drift report "
                             "measures (0: all shared words)", lo=0, hi=10**9)


@dataclass
class GateConfig:
    """The quality gate a new model version passes before LATEST moves to it."""

    enabled: bool = _opt(True, "judge new versions; false lets every version through")
    metric: str = _opt("analogies", "analogies: 3CosAdd accuracy over all answerable "
                       "questions; similarity: mean Spearman over the word-pair files",
                       choices=("analogies", "similarity"))
    min_score: float = _opt(0.0, "refuse a model scoring below this", lo=-1.0, hi=1.0)
    max_drop: float = _opt(0.05, "refuse a model scoring this much below the LATEST one "
                           "(absolute)", lo=0.0, hi=2.0)


@dataclass
class ExploreConfig:
    """Exploration of the latent space: concept directions, arithmetic, neighbourhoods."""

    builtin: bool = _opt(True, "include the curated concept pairs and word groups shipped in "
                         "the package (latentspark/concepts/)")
    analogy_sections: bool = _opt(True, "turn every section of the evaluate.analogies files "
                                  "into a concept (its questions' distinct word pairs)")
    concepts: list = _opt([], "extra concept files (': name' headers, then 'a b' pair "
                          "lines), paths or URIs")
    groups: list = _opt([], "extra word-group files (': name' headers, then words), paths "
                        "or URIs")
    expressions: list = _opt(["king - man + woman", "paris - france + italy",
                              "walked - walk + swim", "cats - cat + dog"],
                             "word arithmetic whose nearest words are reported; terms are "
                             "words joined by + and -, each with an optional coefficient "
                             "(0.5 king, 2 * cats)")
    between: list = _opt(["king queen", "man woman", "good bad"], "word pairs whose "
                         "interpolation is reported, each 'a b'")
    steps: int = _opt(5, "points from the first word to the second, both included",
                      lo=2, hi=100)
    k: int = _opt(5, "nearest words per expression and per interpolation point", lo=1,
                  hi=1000)
    restrict_vocab: int = _opt(30_000, "nearest words are taken among the first N words (by "
                               "frequency) only", lo=1, hi=10**9)
    bootstrap: int = _opt(1000, "bootstrap resamples of each concept's pairs for the "
                          "intervals; 0 skips them", lo=0, hi=1_000_000)
    confidence: float = _opt(0.95, "coverage of the bootstrap percentile intervals",
                             lo=0.5, hi=0.999)
    seed: int = _opt(1, "seed of the bootstrap", lo=0, hi=2**31 - 1)
    words: list = _opt([], "extra words for the 2-D map")
    map_concepts: list = _opt(["gender", "capital"], "concepts whose pairs the 2-D map shows "
                              "(with arrows)")
    projection: list = _opt(["gender", "plural"], "two concepts: the picture projects their "
                            "pairs onto these two directions")
    max_pairs: int = _opt(10, "pairs per concept drawn in the pictures", lo=1, hi=1000)
    evaluation: str = _opt("", "a published eval version (holding summary.json) for the "
                           "accuracy chart; empty means the newest under the run root, if any")
    out: str = _opt("", "local output folder (replaced atomically); empty means publishing "
                    "the stage 'explore' under the run root")


@dataclass
class Config:
    """The whole configuration of a latentspark run."""

    spark: SparkConfig = field(default_factory=SparkConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    tokenize: TokenizeConfig = field(default_factory=TokenizeConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    cooccur: CooccurConfig = field(default_factory=CooccurConfig)
    factorize: FactorizeConfig = field(default_factory=FactorizeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Return the configuration as plain nested dictionaries (for manifests)."""
        return dataclasses.asdict(self)

    def section_hash(self, *sections: str) -> str:
        """SHA-256 of the named sections, used to decide whether a stage must re-run."""
        payload = {name: dataclasses.asdict(getattr(self, name)) for name in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def _check_value(key: str, f: dataclasses.Field, value: Any) -> Any:
    """Validate one value against its field's type and metadata; return it normalised."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    meta = f.metadata
    if kind == "bool":
        ok = isinstance(value, bool)
        allowed = "true or false"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        allowed = "an integer"
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
        # NaN passes every comparison with the range (gate.min_score = nan would switch the
        # gate off); infinities are no setting's meaning either
        ok = ok and math.isfinite(value)
        allowed = "a finite number"
    elif kind == "str":
        ok = isinstance(value, str)
        allowed = "a string"
    elif kind == "list":
        if isinstance(value, str):  # also the comma-separated form of --set and older files
            value = [item.strip() for item in value.split(",") if item.strip()]
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        allowed = "an array of strings (or one comma-separated string)"
    elif kind == "dict":
        ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
        allowed = "a table of settings"
        if ok:
            value = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    else:  # pragma: no cover - a programming error in the dataclasses above
        raise TypeError(f"unsupported config type {kind} for {key}")
    if not ok:
        raise ConfigError(f"config key {key} = {value!r}: expected {allowed}")
    if meta.get("choices") and kind != "list" and value not in meta["choices"]:
        raise ConfigError(f"config key {key} = {value!r}: allowed values are "
                          f"{', '.join(map(repr, meta['choices']))}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"config key {key} = {value!r}: allowed range is [{lo}, {hi}]")
    if key in _CHECKS:
        _CHECKS[key](key, value)
    return value


#: names a JSON field or Parquet column may have here: they end up in a DDL schema string
COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")


def _check_column(key: str, value: str) -> None:
    if not COLUMN_NAME.fullmatch(value):
        raise ConfigError(f"config key {key} = {value!r}: a column name is letters, digits, "
                          "'_' and '-', starting with a letter or '_' (at most 128)")


def _check_where(key: str, value: str) -> None:
    if value.strip():
        from latentspark.where import parse

        parse(value)


def _follows(sentinel: float, lo: float, hi: float) -> Callable[[str, float], None]:
    """A check that allows ``[lo, hi]`` and ``sentinel`` ("follow the dimension") only."""
    def check(key: str, value: float) -> None:
        if not lo <= value <= hi and value != sentinel:
            raise ConfigError(f"config key {key} = {value!r}: allowed values are {sentinel:g} "
                              f"(follow the dimension) and the range [{lo}, {hi}]")
    return check


#: extra checks of single keys, beyond type and range
_CHECKS = {"corpus.text_field": _check_column, "corpus.where": _check_where,
           "factorize.eig": _follows(-1, 0.0, 1.0), "factorize.cds": _follows(-1, 0.0, 1.0),
           "factorize.negative_center": _follows(1, -8.0, 0.0)}


def _apply(cfg: Config, data: Mapping[str, Any], origin: str) -> None:
    sections = _sections()
    for sname, body in data.items():
        if sname not in sections:
            raise ConfigError(f"unknown config section {sname!r} in {origin}; known sections: "
                              f"{', '.join(sections)}")
        if not isinstance(body, Mapping):
            raise ConfigError(f"config section {sname} in {origin} must be a table, "
                              f"got {body!r}")
        section = getattr(cfg, sname)
        fields = {f.name: f for f in dataclasses.fields(section)}
        for key, value in body.items():
            full = f"{sname}.{key}"
            if sname == "spark" and key.startswith("spark."):
                section.conf[key] = value if isinstance(value, str) else json.dumps(value)
                continue
            if key not in fields:
                raise ConfigError(f"unknown config key {full!r} in {origin}; known keys in "
                                  f"[{sname}]: {', '.join(fields)}")
            setattr(section, key, _check_value(full, fields[key], value))


def parse_override(item: str) -> tuple[str, str, Any]:
    """Parse ``section.key=value`` into its parts, reading ``value`` as TOML when it can.

    Parameters
    ----------
    item : str
        The override as given on the command line.

    Returns
    -------
    tuple of (str, str, Any)
        Section name, key and the parsed value.

    Raises
    ------
    ConfigError
        If ``item`` is not of the form ``section.key=value``.

    Examples
    --------
    >>> parse_override("cooccur.window=5")
    ('cooccur', 'window', 5)
    >>> parse_override("corpus.path=data/*.txt")
    ('corpus', 'path', 'data/*.txt')
    """
    name, sep, raw = item.partition("=")
    section, dot, key = name.strip().partition(".")
    if not sep or not dot or not section or not key:
        raise ConfigError(f"override {item!r} is not of the form section.key=value")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, key, value


#: the configuration files shipped in the package (``conf/`` in the repository)
PACKAGED = Path(__file__).resolve().parent / "conf"


def packaged_config(path: str | Path) -> Path:
    """``path`` itself if it exists, else the packaged ``conf/<name>.toml`` of that name.

    So ``--config embeddings`` (or ``--config conf/embeddings.toml`` from a checkout) works
    wherever the package is installed.

    >>> packaged_config("embeddings").name
    'embeddings.toml'
    """
    p = Path(path)
    if p.exists() or p.parent != Path("."):
        return p
    shipped = PACKAGED / (p.name if p.suffix == ".toml" else f"{p.name}.toml")
    return shipped if shipped.exists() else p


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Build a validated :class:`Config` from the defaults, a TOML file and overrides.

    Parameters
    ----------
    path : str or Path, optional
        A TOML file setting any subset of keys, or the name of one shipped in the package
        (``embeddings``, ``cluster``, ``standalone``, ``default``: see :func:`packaged_config`).
    overrides : iterable of str
        ``section.key=value`` items, applied last.

    Returns
    -------
    Config
        The validated configuration.

    Raises
    ------
    ConfigError
        On a missing or unparsable file, an unknown section or key, a wrong type or an
        out-of-range value.
    """
    cfg = Config()
    if path is not None:
        p = packaged_config(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
        _apply(cfg, data, str(p))
    for item in overrides:
        section, key, value = parse_override(item)
        if section == "spark" and key.startswith("conf."):
            # --set spark.conf.spark.executor.memory=4g sets one Spark setting
            section, key = "spark", key[len("conf."):]
            if not key.startswith("spark."):
                raise ConfigError(f"override {item!r}: Spark settings start with 'spark.'")
        _apply(cfg, {section: {key: value}}, f"--set {item}")
    return cfg


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def render_toml(cfg: Config) -> str:
    """Render a configuration as commented TOML that :func:`load_config` reads back.

    ``conf/default.toml`` is ``render_toml(Config())``.
    """
    out = ["# latentspark configuration: every key, its value and what it does.",
           "# Override any key with --set section.key=value.", ""]
    for sf in dataclasses.fields(cfg):
        section = getattr(cfg, sf.name)
        out.append(f"[{sf.name}]")
        tables = []
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            allowed = ""
            if f.metadata.get("choices"):
                allowed = f" (one of: {', '.join(f.metadata['choices'])})"
            elif f.metadata.get("lo") is not None:
                allowed = f" (range {f.metadata['lo']} to {f.metadata['hi']})"
            if isinstance(value, dict):
                tables.append((f, value))
                continue
            out.append(f"# {f.metadata['help']}{allowed}")
            out.append(f"{f.name} = {_toml_value(value)}")
        for f, value in tables:
            out.append("")
            out.append(f"# {f.metadata['help']}")
            out.append(f"[{sf.name}.{f.name}]")
            out.extend(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        out.append("")
    return "\n".join(out)
