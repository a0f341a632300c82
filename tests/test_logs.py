"""Framework chatter filtered, the run's log mirrored to a file."""

from __future__ import annotations

import logging
import os

from alt_jax import logs


def _record(name: str, level: int, pathname: str = "/x/alt_jax/train/trainer.py"):
    return logging.LogRecord(name, level, pathname, 1, "message", None, None)


def test_chatter_is_dropped_and_warnings_kept():
    quiet = logs.QuietLibraries()
    assert not quiet.filter(_record("absl", logging.INFO, "/site-packages/orbax/checkpoint/x.py"))
    assert not quiet.filter(_record("absl", logging.INFO, "/site-packages/grain/_src/y.py"))
    assert not quiet.filter(_record("jax._src.xla_bridge", logging.INFO))  # no TPU backend
    assert quiet.filter(_record("jax._src.xla_bridge", logging.WARNING))
    assert quiet.filter(_record("absl", logging.WARNING, "/site-packages/orbax/checkpoint/x.py"))
    assert quiet.filter(_record("root", logging.INFO))  # the run's own lines


def test_tensorflow_datasets_info_lines_are_dropped():
    """tfds logs through absl from its own files: the path of the installed module that says
    "Load dataset info from ..." when a prepared dataset is opened."""
    from tensorflow_datasets.core import dataset_info

    quiet = logs.QuietLibraries()
    assert not quiet.filter(_record("absl", logging.INFO, dataset_info.__file__))
    assert quiet.filter(_record("absl", logging.WARNING, dataset_info.__file__))


def test_quiet_frameworks_hides_tensorflow_info_lines(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    logs.quiet_frameworks()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # TensorFlow's C++ INFO lines
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"  # its oneDNN notice, printed at any level
    assert logging.getLogger("jax._src.xla_bridge").getEffectiveLevel() == logging.WARNING
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    logs.quiet_frameworks()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # a user's own setting wins


def test_log_file_is_appended_across_runs_and_released(tmp_path):
    path = tmp_path / "run" / "log.txt"
    root = logging.getLogger()
    handlers = list(root.handlers)
    with logs.log_to_file(path):
        logging.info("first run")
    with logs.log_to_file(path):
        logging.info("resumed run")
        logging.getLogger("jax._src.xla_bridge").info("Unable to initialize backend 'tpu'")
    text = path.read_text()
    assert "first run" in text and "resumed run" in text
    assert text.index("first run") < text.index("resumed run")
    assert "tpu" not in text
    assert root.handlers == handlers  # the file handler is gone after the block
