"""latentspark: word embeddings at cluster scale on Spark.

``latentspark.load(path)`` opens published embeddings for single-machine queries (see
:mod:`latentspark.api`); :class:`latentspark.ml.EmbeddingModel` is the Spark ML transformer.
Importing the package loads neither Spark nor pyarrow: :func:`load` imports them when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from latentspark.api import Embeddings

__version__ = "0.1.0"
__all__ = ["__version__", "load"]


def load(path: str, **options) -> Embeddings:
    """Load embeddings for single-machine queries: see :func:`latentspark.api.load`.

    Examples
    --------
    >>> import latentspark
    >>> callable(latentspark.load)
    True
    """
    from latentspark.api import load as _load

    return _load(path, **options)
