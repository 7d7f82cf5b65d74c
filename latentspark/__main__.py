import sys

from latentspark.cli import main

sys.exit(main())
