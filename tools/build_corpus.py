"""Build the entity corpus S (docs/method.md §3) from action label lists.

The tool is `alt_jax/cli/build_corpus.py`, installed as the console script `alt-jax-corpus`
(`python -m alt_jax.cli.build_corpus`);
this file runs it from a clone: `python tools/build_corpus.py --help`.
"""

import sys

from alt_jax.cli.build_corpus import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.build_corpus import main

if __name__ == "__main__":
    main(sys.argv[1:])
