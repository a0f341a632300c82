"""Where a run's metrics go: TensorBoard, the log and WORKDIR/metrics.jsonl (process 0 only)."""

from __future__ import annotations

import json
import os
import shlex
import time

import jax
import ml_collections
from clu import metric_writers
from clu import metrics as clu_metrics
from etils import epath

# Training metrics averaged over the steps between two log lines. (Built with `create`: the
# class-annotation form would see string annotations under `from __future__ import annotations`.)
TrainMetrics = clu_metrics.Collection.create(
    loss=clu_metrics.Average.from_output("loss"),
    accuracy=clu_metrics.Average.from_output("accuracy"),
    grad_norm=clu_metrics.Average.from_output("grad_norm"),
)


class JsonlWriter(metric_writers.MetricWriter):
    """Appends one JSON object per write_scalars call to a file, local or gs:// (process 0 only)."""

    def __init__(self, path: str | os.PathLike):
        self.path = epath.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write_scalars(self, step, scalars):
        record = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def write_images(self, step, images):
        pass

    def write_videos(self, step, videos):
        pass

    def write_audios(self, step, audios, *, sample_rate):
        pass

    def write_texts(self, step, texts):
        pass

    def write_histograms(self, step, arrays, num_buckets=None):
        pass

    def write_summaries(self, step, values, metadata=None):
        pass

    def write_hparams(self, hparams):
        pass

    def flush(self):
        pass

    def close(self):
        pass


def drop_records_after(path: str | os.PathLike, step: int) -> int:
    """Removes the records of steps after `step` from a metrics.jsonl (a resumed run redoes
    them, so each step keeps one record); returns how many were removed. Written to a temporary
    file and renamed, so a crash leaves the old file or the new one."""
    path = epath.Path(path)
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            later = json.loads(line)["step"] > step
        except (ValueError, KeyError, TypeError):
            later = False  # a line cut by a crash, or foreign: kept as it is
        if later:
            dropped += 1
        else:
            kept.append(line)
    if dropped:
        tmp = path.parent / (path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(path)
    return dropped


def make_writer(workdir: str | os.PathLike) -> metric_writers.MetricWriter:
    """TensorBoard + log lines + metrics.jsonl on process 0; nothing on the other processes
    (their metrics are the same global values, so process 0 speaks for the run)."""
    if jax.process_index() > 0:
        return metric_writers.MultiWriter([])
    return metric_writers.MultiWriter(
        [
            metric_writers.create_default_writer(os.fspath(workdir), asynchronous=False),
            JsonlWriter(epath.Path(workdir) / "metrics.jsonl"),
        ]
    )


def write_config_json(path: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
    """The run's resolved config as JSON (big_vision's WORKDIR/config.json); written to a
    temporary file and renamed, so a crash leaves the old file or the new one."""
    path = epath.Path(path)
    tmp = path.parent / (path.name + ".tmp")
    tmp.write_text(config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def append_command(path: str | os.PathLike, argv: list[str], mode: str) -> None:
    """One line per start of a run: UTC time, mode and the command line, appended."""
    path = epath.Path(path)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{stamp}\t{mode}\t{shlex.join(argv)}\n"
    with path.open("a") as f:
        f.write(line)
