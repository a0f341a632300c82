"""Data shipped inside the package (label lists, the entity corpus) and how configs name paths.

A config names a shipped file in the package-relative form `alt_jax:RELATIVE`
(`alt_jax:corpus/actions_wordnet.json`, `alt_jax:labels/k400.txt`); it is resolved inside the
installed package, so it means the same file from any folder and on any machine. Other paths in
a run's config are made absolute when the run starts (`absolute`).
"""

from __future__ import annotations

import os
from importlib import resources as importlib_resources
from pathlib import Path

PACKAGE_PREFIX = "alt_jax:"
SHIPPED_CORPUS = "alt_jax:corpus/actions_wordnet.json"


def packaged(relative: str) -> Path:
    """The file `relative` (e.g. 'labels/k400.txt') of the installed alt_jax.resources package."""
    # The package is installed as plain files (no zip), so the traversable is a real path.
    return Path(str(importlib_resources.files(__name__).joinpath(relative)))


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether `path` is in the package-relative form `alt_jax:RELATIVE`."""
    return str(path).startswith(PACKAGE_PREFIX)


def resolve(path: str | os.PathLike) -> str:
    """`path` as a file name to open: `alt_jax:RELATIVE` becomes the packaged file, others stay."""
    text = os.fspath(path)
    return str(packaged(text[len(PACKAGE_PREFIX) :])) if is_packaged(text) else text


def absolute(path: str) -> str:
    """`path` made independent of the current folder: local paths become absolute; empty,
    package-relative (`alt_jax:...`) and remote (`gs://...`) ones are kept."""
    if not path or is_packaged(path) or "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))
