"""The ``latentspark`` command line: one registry for every job.

::

    latentspark vocab    --corpus PATH --root RUN_ROOT [--config FILE] [--set KEY=VALUE ...]
    latentspark cooccur  --corpus PATH --root RUN_ROOT ...   (builds the vocabulary if needed)
    latentspark run      --corpus PATH --root RUN_ROOT ...   (every stage, in order)
    latentspark pipeline --corpus PATH --root RUN_ROOT --analogies FILE [--from STAGE]
                         (retrain: ... -> index -> evaluation -> model version + LATEST)
    latentspark inspect  --root RUN_ROOT --word king [--word ...]  (strongest contexts)
    latentspark index    --root RUN_ROOT [--embeddings PATH]    (Annoy index shards)
    latentspark evaluate --root RUN_ROOT [--embeddings PATH] --analogies FILE
                         [--similarity FILE ...] [--mode exact|annoy] [--word W ...]
    latentspark neighbours --root RUN_ROOT (--word W ... | --all) [-k 10]
    latentspark export   --root RUN_ROOT [--version V | --embeddings PATH]
                         --format word2vec|word2vec-binary|glove --out FILE
                         [--normalize] [--limit N] [--precision D]
    latentspark drift    --old PATH --new PATH [--out DIR | --root RUN_ROOT] [-k 10]
                         [--sample N] [--seed S] [--top N]   (drift between two versions)
    latentspark explore  --root RUN_ROOT [--embeddings PATH] [--analogies FILE]
                         [--concepts FILE ...] [--groups FILE ...] [--expression EXPR ...]
                         [--between A B ...] [--steps N] [--bootstrap N] [--evaluation PATH]
                         [--out DIR]                  (concept directions, pictures, report)
    latentspark config   [--config FILE] [--set KEY=VALUE ...]  (print the resolved config)
    latentspark data fetch --tier demo|full                 (real corpus and evaluation sets)

Settings come from, in increasing precedence: the defaults, ``--config FILE``, environment
variables ``LATENTSPARK__SECTION__KEY=value`` and ``--set section.key=value``. The shortcut
options (``--corpus``, ``--root``, ``--where``, ``--master``) are ``--set`` in disguise.

Exit codes: 0 success, 1 unexpected failure (a bug), 2 bad configuration, 3 bad input,
4 failed download, 5 missing or broken artifact, 6 quality gate failed (``pipeline``),
7 infrastructure failure (Spark, the cluster or a filesystem; retrying may succeed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence

from latentspark.config import Config, load_config
from latentspark.errors import InfrastructureError, LatentSparkError
from latentspark.export import FORMATS, MAX_PRECISION

logger = logging.getLogger("latentspark")

ENV_PREFIX = "LATENTSPARK__"


def _common_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration")
    g.add_argument("--config", metavar="FILE", help="TOML file with any subset of the settings "
                   "(see conf/default.toml)")
    g.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override one setting, e.g. --set cooccur.window=5 (repeatable)")
    g.add_argument("--corpus", metavar="PATH", help="corpus path, glob or URI (corpus.path)")
    g.add_argument("--root", metavar="URI", help="run root where stages publish (run.root)")
    g.add_argument("--where", metavar="EXPR", help="filter over partition columns, e.g. "
                   "\"date >= '2026-11-01'\" (corpus.where)")
    g.add_argument("--master", metavar="URL", help="Spark master (spark.master); default: "
                   "spark-submit's, else local[*]")
    p.add_argument("--force", action="store_true", help="rebuild even if the published "
                   "output is up to date")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    return p


def resolve_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Load the config from the file, the environment, ``--set`` and the shortcut options."""
    environ = os.environ if environ is None else environ
    overrides = [f"{k[len(ENV_PREFIX):].lower().replace('__', '.', 1)}={v}"
                 for k, v in sorted(environ.items()) if k.startswith(ENV_PREFIX)]
    overrides += list(args.overrides)
    for option, key in (("corpus", "corpus.path"), ("root", "run.root"),
                        ("where", "corpus.where"), ("master", "spark.master")):
        value = getattr(args, option, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    return load_config(args.config, overrides)


def _stage_runner(*stages: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from latentspark.session import get_session
        from latentspark.stages import run_cooccur, run_factorize, run_vocab

        cfg = resolve_config(args)
        spark = get_session(cfg.spark)
        runners = {"vocab": run_vocab, "cooccur": run_cooccur, "factorize": run_factorize}
        for stage in stages:
            published = runners[stage](spark, cfg, force=args.force)
            print(f"{stage}: {published.path}")
        return 0

    return run


PIPELINE_STAGES = ("vocab", "cooccur", "embeddings", "index", "eval", "publish")


def _pipeline(args: argparse.Namespace) -> int:
    from latentspark.pipeline import run_pipeline
    from latentspark.session import get_session

    _eval_overrides(args)
    if args.model_root:
        args.overrides.append(f"pipeline.model_root={json.dumps(args.model_root)}")
    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    pub = run_pipeline(spark, cfg, start=args.start, full=args.full)
    gate = pub.manifest.get("gate", {})
    print(f"LATEST: {pub.path} ({gate.get('metric')} {gate.get('score')})")
    return 0


def _show_config(args: argparse.Namespace) -> int:
    from latentspark.config import render_toml

    cfg = resolve_config(args)
    print(json.dumps(cfg.to_dict(), indent=2) if args.json else render_toml(cfg), end="")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from latentspark.artifacts import StageStore
    from latentspark.contexts import top_contexts
    from latentspark.session import get_session
    from latentspark.stages import COOCCUR, VOCAB

    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    vocab = StageStore(spark, cfg.run.root, VOCAB).require()
    cooc = StageStore(spark, cfg.run.root, COOCCUR).require()
    print(f"vocabulary {vocab.version}: {vocab.manifest['rows']:,} words covering "
          f"{vocab.manifest['coverage']:.1%} of {vocab.manifest['corpus_tokens']:,} tokens")
    print(f"co-occurrences {cooc.version}: {cooc.manifest['rows']:,} non-zeros, window "
          f"{cooc.manifest['config']['cooccur']['window']}")
    for word, (by_weight, by_pmi) in top_contexts(spark, vocab, cooc, args.word, args.k).items():
        print(f"\n{word}")
        print("  heaviest:   " + ", ".join(f"{c.word} {c.weight:.0f}" for c in by_weight))
        print("  strongest:  " + ", ".join(f"{c.word} {c.pmi:.1f}" for c in by_pmi))
    return 0


def _index_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("index and evaluation")
    g.add_argument("--embeddings", metavar="PATH", help="embeddings to index: a published "
                   "version or a Parquet dir of that schema (index.embeddings); default: the "
                   "newest published under the run root")
    g.add_argument("--mode", choices=("exact", "annoy"), help="search mode (evaluate.mode)")
    g.add_argument("-k", type=int, help="neighbours per word (evaluate.k)")
    return p


def _eval_overrides(args: argparse.Namespace) -> None:
    """Turn the index/evaluate shortcut options into ``--set`` overrides."""
    pairs = [("embeddings", "index.embeddings"), ("mode", "evaluate.mode"), ("k", "evaluate.k")]
    for option, key in pairs:
        value = getattr(args, option, None)
        if value is not None:
            args.overrides.append(f"{key}={json.dumps(value)}")
    for option, key in (("analogies", "evaluate.analogies"),
                        ("similarity", "evaluate.similarity"), ("word", "evaluate.words")):
        values = getattr(args, option, None)
        if values:
            args.overrides.append(f"{key}={json.dumps(','.join(values))}")


def _index(args: argparse.Namespace) -> int:
    from latentspark.index import run_index
    from latentspark.session import get_session

    _eval_overrides(args)
    cfg = resolve_config(args)
    published = run_index(get_session(cfg.spark), cfg, force=args.force)
    print(f"index: {published.path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from latentspark.evaluation import run_evaluate
    from latentspark.session import get_session

    _eval_overrides(args)
    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    published = run_evaluate(spark, cfg, force=args.force)
    print(f"eval: {published.path}")
    if not args.quiet:
        from latentspark.fs import HadoopFS

        print(HadoopFS(spark).read_bytes(f"{published.path}/report.md").decode())
    return 0


def _neighbours(args: argparse.Namespace) -> int:
    from latentspark.errors import ConfigError
    from latentspark.evaluation import (
        Lexicon,
        index_words,
        load_spec,
        neighbours_of,
        run_neighbours,
    )
    from latentspark.session import get_session

    if bool(args.all) == bool(args.word):
        raise ConfigError("neighbours: give either --all or one or more --word")
    words = args.word
    args.word = None
    _eval_overrides(args)
    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    if args.all:
        published = run_neighbours(spark, cfg, force=args.force)
        print(f"neighbours: {published.path}")
        return 0
    spec = load_spec(spark, cfg)
    lex = Lexicon(index_words(spark, spec), spec.vocab_size, cfg.evaluate.case_insensitive)
    ids = {w: lex.id(w) for w in words}
    for w in [w for w, i in ids.items() if i is None]:
        print(f"{w}: not in the vocabulary")
    known = [i for i in ids.values() if i is not None]
    if known:
        from latentspark.evaluation import index_errors

        with index_errors():
            rows = neighbours_of(spark, spec, cfg, known).toArrow().to_pylist()
        for w in dict.fromkeys(r["word"] for r in rows):
            mine = sorted((r for r in rows if r["word"] == w), key=lambda r: r["rank"])
            print(f"{w}: " + ", ".join(f"{r['neighbour']} {r['similarity']:.3f}" for r in mine))
    return 0


def _drift(args: argparse.Namespace) -> int:
    from latentspark.artifacts import StageStore
    from latentspark.drift import DRIFT, compute_drift
    from latentspark.errors import InputError
    from latentspark.fs import HadoopFS
    from latentspark.session import get_session

    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    fs = HadoopFS(spark)
    options = {"k": args.k, "sample": args.sample, "seed": args.seed, "top": args.top}
    if args.out:
        if fs.exists(args.out) and fs.list_names(args.out):
            if not args.force:
                raise InputError(f"drift: --out {args.out} exists and is not empty; pass "
                                 "--force to replace it")
            fs.delete(args.out)
        compute_drift(spark, args.old, args.new, args.out, **options)
        where = args.out
    else:
        # published like a stage: a killed run leaves no half-written report under drift/
        store = StageStore(spark, cfg.run.root, DRIFT, cfg.run.keep_versions)
        with store.staging() as st:
            with st.timed("drift"):
                summary = compute_drift(spark, args.old, args.new, st.path, **options)
            st.manifest.update({
                "config": options,
                "input_fingerprint": f"{summary['old']['fingerprint']}|"
                                     f"{summary['new']['fingerprint']}",
                "inputs": {"old": summary["old"], "new": summary["new"]},
                "summary": {key: summary[key] for key in (
                    "shared", "only_old", "only_new", "dim", "procrustes", "drift",
                    "overlap")},
            })
        where = f"{store.dir}/{st.version}"
    print(f"drift: {where}")
    if not args.quiet:
        print(fs.read_bytes(f"{where.rstrip('/')}/summary.md").decode())
    return 0


def _export(args: argparse.Namespace) -> int:
    from latentspark.artifacts import StageStore
    from latentspark.export import EMBEDDINGS_STAGE, export_embeddings
    from latentspark.fs import HadoopFS
    from latentspark.session import get_session

    cfg = resolve_config(args)
    spark = get_session(cfg.spark)
    if args.embeddings:
        from latentspark.models import resolve

        # a model root stands for its LATEST version, a model version for its embeddings
        source = resolve(HadoopFS(spark), args.embeddings) or args.embeddings
    else:
        store = StageStore(spark, cfg.run.root, EMBEDDINGS_STAGE)
        source = (store.load(args.version) if args.version else store.require()).path
    result = export_embeddings(source, args.out, args.format, fs=HadoopFS(spark),
                               normalize=args.normalize, limit=args.limit,
                               precision=args.precision)
    print(f"{result.format}: {result.words:,} words x {result.dim} from {source} "
          f"-> {result.path} ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s)")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from latentspark.explore import run_explore
    from latentspark.session import get_session

    for option, key in (("embeddings", "index.embeddings"), ("steps", "explore.steps"),
                        ("bootstrap", "explore.bootstrap"), ("k", "explore.k"),
                        ("evaluation", "explore.evaluation"), ("out", "explore.out")):
        value = getattr(args, option)
        if value is not None:
            args.overrides.append(f"{key}={json.dumps(value)}")
    for option, key in (("analogies", "evaluate.analogies"), ("concepts", "explore.concepts"),
                        ("groups", "explore.groups"), ("expression", "explore.expressions"),
                        ("word", "explore.words")):
        if getattr(args, option):
            args.overrides.append(f"{key}={json.dumps(','.join(getattr(args, option)))}")
    if args.between:
        args.overrides.append("explore.between="
                              + json.dumps(",".join(f"{a} {b}" for a, b in args.between)))
    cfg = resolve_config(args)
    out = run_explore(get_session(cfg.spark), cfg)
    print(f"explore: {out}")
    return 0


def _int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``lo``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"{text} is not an integer >= {lo}")
        return value
    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _data(args: argparse.Namespace) -> int:
    from latentspark import data

    return data.cli_main(args.data_args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``latentspark`` command."""
    common = _common_parser()
    parser = argparse.ArgumentParser(prog="latentspark", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, stages, text in (
        ("vocab", ("vocab",), "count words and publish the vocabulary"),
        ("cooccur", ("cooccur",), "count windowed co-occurrences (and the vocabulary "
                                          "if it is missing or stale)"),
        ("factorize", ("factorize",), "factorize the co-occurrences into embeddings (and "
                                      "count them first if they are missing or stale)"),
        ("run", ("vocab", "cooccur", "factorize"), "run every stage of the pipeline in order"),
    ):
        sp = sub.add_parser(name, parents=[common], help=text, description=text)
        sp.set_defaults(func=_stage_runner(*stages))
    sp = sub.add_parser("inspect", parents=[common], help="print the strongest contexts of "
                        "some words from the published counts")
    sp.add_argument("--word", action="append", required=True, help="a word (repeatable)")
    sp.add_argument("-k", type=int, default=10, help="contexts per list (default 10)")
    sp.set_defaults(func=_inspect)
    ix_opts = _index_parser()
    text = ("retrain: vocabulary -> co-occurrences -> embeddings -> index -> evaluation -> "
            "a new model version, LATEST moved if it passes the quality gate; resumes from "
            "the last published stage")
    sp = sub.add_parser("pipeline", parents=[common, ix_opts], help=text, description=text)
    sp.add_argument("--analogies", action="append", metavar="FILE", help="questions-words.txt"
                    " style file for the evaluation and gate (evaluate.analogies; repeatable)")
    sp.add_argument("--similarity", action="append", metavar="FILE", help="word-pair file "
                    "(evaluate.similarity; repeatable)")
    sp.add_argument("--word", action="append", help="a word whose neighbours go into the "
                    "evaluation report (evaluate.words; repeatable)")
    sp.add_argument("--from", dest="start", metavar="STAGE", choices=PIPELINE_STAGES,
                    help="redo this stage and the ones after it: " + ", ".join(PIPELINE_STAGES))
    sp.add_argument("--full", action="store_true", help="count the whole corpus in one job "
                    "instead of merging the per-partition counts")
    sp.add_argument("--model-root", metavar="URI", help="where versions and LATEST live "
                    "(pipeline.model_root; default <root>/models)")
    sp.set_defaults(func=_pipeline)
    sp = sub.add_parser("index", parents=[common, ix_opts], help="build and publish the Annoy "
                        "index shards of the embeddings")
    sp.set_defaults(func=_index)
    sp = sub.add_parser("evaluate", parents=[common, ix_opts], help="evaluate the embeddings: "
                        "analogies, word similarity, neighbours, Annoy recall")
    sp.add_argument("--analogies", action="append", metavar="FILE", help="questions-words.txt "
                    "style file (evaluate.analogies; repeatable)")
    sp.add_argument("--similarity", action="append", metavar="FILE", help="word-pair file "
                    "(evaluate.similarity; repeatable)")
    sp.add_argument("--word", action="append", help="a word whose neighbours go into the report "
                    "(evaluate.words; repeatable)")
    sp.set_defaults(func=_evaluate)
    sp = sub.add_parser("neighbours", parents=[common, ix_opts], help="print the neighbours of "
                        "some words, or export those of every word as Parquet (--all)")
    sp.add_argument("--word", action="append", help="a word (repeatable)")
    sp.add_argument("--all", action="store_true", help="export the top k of every word to the "
                    "run root's neighbours stage")
    sp.set_defaults(func=_neighbours)
    sp = sub.add_parser("export", parents=[common], help="write published embeddings in the "
                        "word2vec text or binary format or the GloVe text format")
    which = sp.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="published embeddings version under "
                       "the run root (default: the newest)")
    which.add_argument("--embeddings", metavar="PATH", help="an embeddings folder (holding "
                       "data/) or its data/ folder, instead of a version under --root")
    sp.add_argument("--format", required=True, choices=FORMATS, help="word2vec (text with a "
                    "'V dim' header), word2vec-binary (the C tool's binary) or glove (text, "
                    "no header)")
    sp.add_argument("--out", required=True, metavar="FILE", help="local file to write "
                    "(replaced atomically)")
    sp.add_argument("--normalize", action="store_true", help="write unit-length vectors")
    sp.add_argument("--limit", type=_positive_int, metavar="N", help="only the N most "
                    "frequent words (the first N ids)")
    sp.add_argument("--precision", type=int, default=6, choices=range(MAX_PRECISION + 1),
                    metavar="D", help="decimals per value in the text formats "
                    f"(0-{MAX_PRECISION}, default 6)")
    sp.set_defaults(func=_export)
    sp = sub.add_parser("drift", parents=[common], help="compare two embeddings versions: "
                        "per-word drift after Procrustes alignment, neighbour overlap")
    sp.add_argument("--old", required=True, metavar="PATH", help="the earlier embeddings: a "
                    "published version or a Parquet dir of that schema")
    sp.add_argument("--new", required=True, metavar="PATH", help="the later embeddings, same "
                    "dimension")
    sp.add_argument("--out", metavar="DIR", help="write the report here (--force replaces an "
                    "existing one); default: publish it under the run root's drift/ stage")
    sp.add_argument("-k", type=_positive_int, default=10, help="neighbours compared per word "
                    "(default 10)")
    sp.add_argument("--sample", type=_non_negative_int, default=0, metavar="N",
                    help="compute the neighbour overlap for N seeded random shared words "
                    "(default 0: all)")
    sp.add_argument("--seed", type=int, default=1, help="seed of the sample (default 1)")
    sp.add_argument("--top", type=_non_negative_int, default=50, metavar="N",
                    help="most and least drifted frequent words listed (default 50)")
    sp.set_defaults(func=_drift)
    sp = sub.add_parser("explore", parents=[common], help="explore the embeddings: concept "
                        "directions, word arithmetic, neighbourhoods, pictures, HTML report")
    sp.add_argument("--embeddings", metavar="PATH", help="a published embeddings version or a "
                    "Parquet dir of that schema (index.embeddings); default: the newest "
                    "published under the run root")
    sp.add_argument("--analogies", action="append", metavar="FILE", help="questions-words.txt "
                    "style file whose sections become concepts (evaluate.analogies; repeatable)")
    sp.add_argument("--concepts", action="append", metavar="FILE", help="concept file: ': name' "
                    "headers, then 'a b' pairs (explore.concepts; repeatable)")
    sp.add_argument("--groups", action="append", metavar="FILE", help="word-group file: ': name' "
                    "headers, then words (explore.groups; repeatable)")
    sp.add_argument("--expression", action="append", metavar="EXPR", help="word arithmetic, "
                    "e.g. 'king - man + woman' (explore.expressions; repeatable, replaces the "
                    "defaults)")
    sp.add_argument("--between", nargs=2, action="append", metavar=("A", "B"), help="report the "
                    "nearest words between A and B (explore.between; repeatable)")
    sp.add_argument("--steps", type=int, help="interpolation points, ends included "
                    "(explore.steps)")
    sp.add_argument("--bootstrap", type=int, help="bootstrap resamples, 0 for none "
                    "(explore.bootstrap)")
    sp.add_argument("-k", type=int, help="nearest words per query (explore.k)")
    sp.add_argument("--word", action="append", help="an extra word for the 2-D map "
                    "(explore.words; repeatable)")
    sp.add_argument("--evaluation", metavar="PATH", help="a published eval version for the "
                    "accuracy chart (explore.evaluation); default: the newest under --root")
    sp.add_argument("--out", metavar="DIR", help="local folder for the report, replaced "
                    "atomically (explore.out); default: publish the stage 'explore' under "
                    "the run root")
    sp.set_defaults(func=_explore)
    sp = sub.add_parser("config", parents=[common], help="print the resolved configuration")
    sp.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    sp.set_defaults(func=_show_config)
    sp = sub.add_parser("data", help="fetch the real corpus and evaluation sets",
                        add_help=False)
    sp.add_argument("data_args", nargs=argparse.REMAINDER)
    sp.set_defaults(func=_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``latentspark`` command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False)
                            else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except LatentSparkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        logger.exception("infrastructure failure")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: infrastructure failure ({type(exc).__name__}): {first[:500]}; the "
              "published outputs are intact, retry the run", file=sys.stderr)
        return InfrastructureError.exit_code


def is_infrastructure(exc: BaseException) -> bool:
    """Whether a failure came from Spark, the JVM, the network or a filesystem rather than
    from latentspark's own code (a Python exception raised inside a task is a bug)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "PythonException" in names:
        return False
    return bool(names & {"Py4JError", "Py4JJavaError", "Py4JNetworkError", "OSError",
                         "ConnectionError", "TimeoutError", "PySparkRuntimeError",
                         "SparkConnectException", "StreamingQueryException",
                         "SparkRuntimeException", "SparkUpgradeException"})


def job_main(command: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of the thin ``jobs/*.py`` scripts: ``latentspark COMMAND ARGS``."""
    return main([command, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
