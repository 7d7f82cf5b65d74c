"""The spark-submit entry file that ships inside the package.

``spark-submit "$(latentspark jobfile)" STAGE [options]`` runs ``latentspark STAGE
[options]`` as a Spark application, on whatever master spark-submit gives; so does
``python -m latentspark.jobs STAGE [options]`` with no spark-submit. The thin files under the
repository's ``jobs/`` do the same for one stage each.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def submit(command: str, argv: Sequence[str] | None = None) -> int:
    """Run ``latentspark COMMAND`` with ``argv`` (the process arguments when omitted).

    Returns
    -------
    int
        The exit code (see :data:`latentspark.errors.EXIT_CODES`).
    """
    from latentspark.cli import main

    return main([command, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    from latentspark.cli import main

    sys.exit(main(sys.argv[1:]))
