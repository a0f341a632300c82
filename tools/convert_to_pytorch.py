"""Converts a trained ALT or VicTR run into a PyTorch package and a transformers CLIP folder.

The tool is `alt_jax/cli/convert_to_pytorch.py`, installed as the console script `alt-jax-export`
(`python -m alt_jax.cli.convert_to_pytorch`);
this file runs it from a clone: `python tools/convert_to_pytorch.py --help`.
"""

import sys

from alt_jax.cli.convert_to_pytorch import *  # noqa: F403 - the tool's names, for scripts and tests
from alt_jax.cli.convert_to_pytorch import main

if __name__ == "__main__":
    sys.exit(main())
