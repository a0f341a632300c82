"""Fitting ALT's closed-form appearance probe (models/probe.py) before the first step: one pass
over the training clips' frozen features, a ridge fit on the host, the result put into the
trainable state."""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils

from alt_jax.models.probe import fit_probe
from alt_jax.progress import Progress, track
from alt_jax.train import sharding


def clip_rows(batch: dict[str, Any]) -> dict[str, np.ndarray]:
    """{"x" [B, d] (mean class token per clip), "label" [B], "index" [B]} of a batch of frozen
    features (cls [B, T, d], label, index)."""
    return {
        "x": np.asarray(batch["cls"], np.float32).mean(axis=1),
        "label": np.asarray(batch["label"]),
        "index": np.asarray(batch["index"]),
    }


# The name of the progress lines of the probe's pass over the training clips.
PASS_NAME = "appearance probe: training clips"


def collect(batches: Iterable[dict[str, Any]], max_batches: int | None) -> dict[str, np.ndarray]:
    """clip_rows of up to `max_batches` (None: all) batches of cached features, concatenated."""
    some = itertools.islice(batches, max_batches)
    rows = [clip_rows(batch) for batch in track(some, PASS_NAME, max_batches, unit="batches")]
    if not rows:
        raise ValueError("model.probe: the training set gave no batch to fit the probe on")
    return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def collect_videos(
    batches: Iterator[dict[str, Any]],
    encode: Callable[[jax.Array], dict[str, Any]],
    max_batches: int,
    mesh: Any,
) -> dict[str, np.ndarray]:
    """clip_rows of video batches, every process's on every process: each process's
    part of a batch becomes its slice of a global array (as the train step sees it), the frozen
    encoder runs on the global batch, and the rows are gathered. The processes stop together at
    the first batch one of them lacks (skipped videos can end one process's pass early)."""
    rows: dict[str, list[np.ndarray]] = {"x": [], "label": [], "index": []}
    with Progress(PASS_NAME, max_batches, unit="batches") as bar:
        for _ in range(max_batches):
            batch = next(batches, None)
            present = np.int32(batch is not None)
            if jax.process_count() > 1:
                present = np.min(multihost_utils.process_allgather(present))
            if not present:
                break
            arrays = sharding.global_batch(
                {"video": batch["video"], "label": batch["label"], "index": batch["index"]}, mesh
            )
            x = encode(arrays["video"])["cls"].astype(jnp.float32).mean(axis=1)  # [global B, d]
            for key, value in (("x", x), ("label", arrays["label"]), ("index", arrays["index"])):
                rows[key].append(np.asarray(multihost_utils.process_allgather(value, tiled=True)))
            bar.update()
    if not rows["x"]:
        raise ValueError("model.probe: the training set gave no batch to fit the probe on")
    return {k: np.concatenate(v) for k, v in rows.items()}


def batches_for(max_clips: int, global_batch: int, num_batches: int) -> int:
    """Batches of one pass that hold `max_clips` clips (0: the whole epoch)."""
    if max_clips <= 0:
        return num_batches
    return max(1, min(num_batches, math.ceil(max_clips / global_batch)))


def fit_into(
    params: nnx.State, rows: dict[str, np.ndarray], class_embeddings: Any
) -> tuple[nnx.State, dict]:
    """The probe fitted on `rows` (collect's output) written into `params`' probe_mean and
    probe_map, λ and k chosen at the parameters' logit scale s; returns (params, the fit's
    summary: ridge, weight, cv_nll, cv_top1, train_top1, clips)."""
    logit_scale = float(np.exp(np.asarray(params["log_logit_scale"][...])))  # s before training
    fit = fit_probe(
        rows["x"], rows["label"], np.asarray(class_embeddings), rows["index"], logit_scale
    )
    for name, key in (("probe_mean", "mean"), ("probe_map", "map")):
        leaf = params[name]
        if tuple(leaf.shape) != fit[key].shape:
            raise ValueError(
                f"{name}: the fit has shape {fit[key].shape}, the model {tuple(leaf.shape)}"
            )
        leaf.set_value(jax.device_put(fit[key].astype(leaf.dtype), leaf.sharding))
    summary = {k: v for k, v in fit.items() if k not in ("mean", "map")}
    summary["clips"] = len(rows["x"])
    logging.info(
        "appearance probe fitted on %d clips: ridge %.0e, weight %.2g (0: left out), "
        "cross-validated top-1 %.4f, training top-1 %.4f",
        summary["clips"], summary["ridge"], summary["weight"], summary["cv_top1"],
        summary["train_top1"],
    )  # fmt: skip
    return params, summary
