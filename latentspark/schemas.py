"""The schemas of every dataset a stage publishes, declared once.

Each is an Arrow schema; :func:`ddl` gives the Spark DDL string that ``mapInArrow`` and
``createDataFrame`` take, and the manifests record :func:`describe`. Kernels' private,
in-flight record layouts (partial rows, packed factor rows) stay next to their kernels.

==================  =========================================================================
dataset             where
==================  =========================================================================
VOCAB               ``vocab/<v>/data/*.parquet``
COOCCUR             ``cooccur/<v>/data/block=k/*.parquet``
COOCCUR_EXACT       ``cooccur/<v>/exact/`` and ``parts/cooccur/*``: weights times weight_scale
WORD_COUNTS         ``parts/words/*``: one partition's word counts
embeddings(dim)     ``embeddings/<v>/data/*.parquet``
INDEX_WORDS         ``index/<v>/data/words.parquet``
ANALOGIES           ``eval/<v>/data/analogies/``: one row per question
SIMILARITY          ``eval/<v>/data/similarity/``: one row per word pair
NEIGHBOURS          ``neighbours/<v>/data/`` and ``eval/<v>/data/neighbours/``
DRIFT_WORDS         ``drift/<v>/words/``: one row per shared word
==================  =========================================================================
"""

from __future__ import annotations

import pyarrow as pa

VOCAB = pa.schema([("id", pa.int32()), ("word", pa.string()), ("count", pa.int64())])
COOCCUR = pa.schema([("row", pa.int32()), ("col", pa.int32()), ("weight", pa.float32())])
COOCCUR_EXACT = pa.schema([("row", pa.int32()), ("col", pa.int32()),
                           ("weight", pa.float64())])
WORD_COUNTS = pa.schema([("word", pa.string()), ("count", pa.int64())])
INDEX_WORDS = pa.schema([("id", pa.int32()), ("word", pa.string())])
ANALOGIES = pa.schema([
    ("qid", pa.int64()), ("file", pa.string()), ("section", pa.string()), ("line", pa.int32()),
    ("a", pa.string()), ("b", pa.string()), ("c", pa.string()), ("expected", pa.string()),
    ("answerable", pa.bool_()),
    ("answer_3cosadd", pa.string()), ("score_3cosadd", pa.float32()),
    ("correct_3cosadd", pa.bool_()),
    ("answer_3cosmul", pa.string()), ("score_3cosmul", pa.float32()),
    ("correct_3cosmul", pa.bool_()),
])
SIMILARITY = pa.schema([
    ("file", pa.string()), ("line", pa.int32()), ("word1", pa.string()), ("word2", pa.string()),
    ("gold", pa.float64()), ("in_vocab", pa.bool_()), ("similarity", pa.float32()),
])
NEIGHBOURS = pa.schema([("word", pa.string()), ("rank", pa.int32()),
                        ("neighbour", pa.string()), ("similarity", pa.float32())])
DRIFT_WORDS = pa.schema([
    ("word", pa.string()), ("old_id", pa.int32()), ("new_id", pa.int32()),
    ("old_count", pa.int64()), ("new_count", pa.int64()), ("cosine", pa.float32()),
    ("drift", pa.float32()), ("overlap", pa.float32()),
])


def embeddings(dim: int) -> pa.Schema:
    """The embeddings table of dimension ``dim``.

    >>> embeddings(3).field("vector").type
    FixedSizeListType(fixed_size_list<item: float>[3])
    """
    return pa.schema([
        pa.field("id", pa.int32(), nullable=False),
        pa.field("word", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
        pa.field("vector", pa.list_(pa.float32(), dim), nullable=False),
        pa.field("norm", pa.float32(), nullable=False),
    ])


_SPARK_TYPES = {pa.string(): "STRING", pa.int64(): "BIGINT", pa.int32(): "INT",
                pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        return f"ARRAY<{_spark_type(t.value_type)}>"
    return _SPARK_TYPES[t]


def ddl(schema: pa.Schema) -> str:
    """The Spark DDL string of a flat Arrow schema.

    >>> ddl(VOCAB)
    'id INT, word STRING, count BIGINT'
    """
    return ", ".join(f"{f.name} {_spark_type(f.type)}" for f in schema)


def describe(schema: pa.Schema) -> str:
    """How a manifest records a schema (``vector`` keeps its fixed size).

    >>> describe(embeddings(2))
    'id INT, word STRING, count BIGINT, vector FIXED_SIZE_LIST<FLOAT>[2], norm FLOAT'
    """
    out = []
    for f in schema:
        if pa.types.is_fixed_size_list(f.type):
            out.append(f"{f.name} FIXED_SIZE_LIST<{_spark_type(f.type.value_type)}>"
                       f"[{f.type.list_size}]")
        else:
            out.append(f"{f.name} {_spark_type(f.type)}")
    return ", ".join(out)
