"""``python -m latentspark.data``: the ``latentspark data`` command on its own."""

import sys

from latentspark.data import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
