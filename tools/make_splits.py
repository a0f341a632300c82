"""Writes the few-shot training lists and the zero-shot K600 class-subset lists (docs/method.md §7).

The tool is `alt_jax/cli/make_splits.py`, installed as the console script `alt-jax-splits`
(`python -m alt_jax.cli.make_splits`);
this file runs it from a clone: `python tools/make_splits.py --help`.
"""

import sys

from alt_jax.cli.make_splits import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.make_splits import main

if __name__ == "__main__":
    sys.exit(main())
