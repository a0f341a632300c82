"""Logging of the command-line tools: framework chatter hidden, the run's log mirrored to a file.

`quiet_frameworks()` must run before TensorFlow is imported (clu, tensorflow-datasets and the
TensorBoard writer load it): its C++ INFO lines (the oneDNN notice) are filtered by an
environment variable read at load time.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from etils import epath

# Python loggers whose INFO lines say nothing about the run (JAX probing for a TPU on every
# start: "Unable to initialize backend 'tpu'"); their warnings still show.
_CHATTY_LOGGERS = ("jax._src.xla_bridge",)
# Libraries that log one INFO line per checkpoint file, data worker or dataset opened ("Load
# dataset info from ...", "Constructing tf.data.Dataset ..."), through absl, so they are
# recognised by the source file's path.
_CHATTY_PATHS = ("/orbax/", "/grain/", "/tensorflow_datasets/")


class QuietLibraries(logging.Filter):
    """Drops INFO (and DEBUG) records of orbax, grain, tensorflow-datasets and JAX's backend
    probing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        noisy = any(p in record.pathname for p in _CHATTY_PATHS)
        return not (noisy or record.name in _CHATTY_LOGGERS)


def quiet_frameworks() -> None:
    """Hides framework INFO chatter: TensorFlow's C++ INFO lines and its oneDNN notice (set
    before it loads; variables already set win) and the Python loggers above."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # e.g. the CPU-instructions notice
    # TensorFlow prints the oneDNN notice whatever the level while its oneDNN ops are on. Here
    # it only writes summaries and reads tfds records: the JAX model never runs through it.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from absl import logging as absl_logging

        handler = absl_logging.get_absl_handler()
        if not any(isinstance(f, QuietLibraries) for f in handler.filters):
            handler.addFilter(QuietLibraries())
    except ImportError:  # absl is a dependency of every CLI; a bare library use has no handler
        pass


@contextlib.contextmanager
def log_to_file(path: str | os.PathLike) -> Iterator[None]:
    """Mirrors log records of INFO and above to `path` (appended: a resumed run continues the
    same file) while the block runs. Local or gs:// (etils.epath)."""
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    stream = path.open("a")
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    handler.addFilter(QuietLibraries())
    handler.setFormatter(
        logging.Formatter("%(levelname).1s %(asctime)s %(filename)s:%(lineno)d] %(message)s")
    )
    old_level = root.level
    # Without absl's app.run (tests, notebooks) the root logger passes warnings only.
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        stream.close()
