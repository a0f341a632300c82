"""A run from its config and mode: train, eval (a checkpoint), train_and_eval, or
extract_features; the workdir's lock, log file and stop signals around it."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from typing import Any

import jax
import ml_collections
import numpy as np
from clu import metric_writers
from etils import epath
from flax import nnx

from alt_jax import explain, progress, viz
from alt_jax.configs_lib import prepare_run_config
from alt_jax.corpus import read_entities
from alt_jax.data import pipeline
from alt_jax.logs import log_to_file
from alt_jax.train import checkpoint
from alt_jax.train.datasets import check_run_config, class_names_of, dataset_spec
from alt_jax.train.preemption import Preempted, Preemption
from alt_jax.train.trainer import Trainer
from alt_jax.train.writers import append_command, make_writer

MODES = ("train", "eval", "train_and_eval", "extract_features")


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    mode: str,
    step: int | None = None,
    command: list[str] | None = None,
) -> dict:
    """Runs `mode` (train / eval / train_and_eval) in `workdir`; returns the final metrics.
    `step`: the checkpoint --mode=eval evaluates (None: the latest). `command`: the command line
    that started it, appended to WORKDIR/commands.txt; training writes the resolved config to
    WORKDIR/config.json. --mode=eval draws its alignment picture as alignment_step<N>.png, so
    the training run's alignment.png stays.

    Process 0 mirrors the log to WORKDIR/log.txt (appended across resumes). A SIGTERM or
    SIGINT (Ctrl-C) at any point ends it cleanly: during training the last completed step is
    saved; during start-up or the final evaluation there is nothing to save. The result then
    says {"preempted": phase}. Training modes hold the workdir's lock throughout (a second run
    on it is a checkpoint.WorkdirError); --mode=eval does not, so that it may evaluate a
    checkpoint while training goes on.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {MODES}")
    # Validated once, here where the run starts; relative paths are relative to this folder.
    config = prepare_run_config(config)
    check_run_config(config, mode)
    workdir = checkpoint.absolute(str(workdir))
    checkpoint.ensure_writable(workdir)
    lock = (
        checkpoint.workdir_lock(workdir)
        if mode in ("train", "train_and_eval")
        else contextlib.nullcontext()
    )
    log_file = (
        log_to_file(epath.Path(workdir) / "log.txt")
        if jax.process_index() == 0
        else contextlib.nullcontext()
    )
    with log_file, lock:  # the log first: a stale lock taken over is reported in it
        if command is not None and jax.process_index() == 0:
            append_command(epath.Path(workdir) / "commands.txt", command, mode)
        return _run(config, workdir, mode, step)


def _run(config: ml_collections.ConfigDict, workdir: str, mode: str, step: int | None) -> dict:
    result: dict[str, Any] = {}
    phase = "start-up"
    with Preemption() as preemption:
        try:
            # The model, its shardings and the corpus: a minute or more before anything runs.
            with preemption.interruptible(), progress.phase(f"start-up ({mode})"):
                trainer = Trainer(config, workdir)
            if mode == "extract_features":
                if not config.feature_cache:
                    raise ValueError(
                        "mode extract_features writes to config.feature_cache, which is not set"
                    )
                phase = "feature extraction"
                with preemption.interruptible():
                    written = trainer.extract_features(
                        config.feature_cache, config.feature_train_views
                    )
                return {"written": written}
            if mode in ("train", "train_and_eval"):
                phase = "training"
                result["train"] = trainer.train(preemption=preemption)
                if result["train"]["preempted"]:
                    return {**result, "preempted": phase}
            if mode in ("eval", "train_and_eval") and config.evals:
                phase = "evaluation"
                with preemption.interruptible():
                    result.update(_final_evaluation(trainer, config, workdir, mode, step))
        except Preempted:
            logging.warning("stopped by %s during %s", preemption.signal_name or "SIGTERM", phase)
            return {**result, "preempted": phase}
    return result


def _final_evaluation(
    trainer: Trainer, config, workdir: str, mode: str, step: int | None = None
) -> dict[str, Any]:
    """Evaluates every config.evals dataset after training (or checkpoint `step`, default the
    latest) and draws the alignment picture; both figures also go to TensorBoard."""
    result: dict[str, Any] = {}
    if mode == "eval":
        which = "the latest checkpoint" if step is None else f"checkpoint step {step}"
        with progress.phase(f"restoring {which}"):
            step = trainer.restore_params(step)
    else:
        step = trainer.step
    writer = make_writer(workdir)
    result["eval"] = trainer.evaluate(step, writer)
    # The alignment picture shows ALT's entity-to-region assignment; VicTR and ALT with
    # learned queries have none.
    aligned = config.model.head == "alt" and config.model.queries == "entities"
    if config.alignment_picture and aligned:
        # An evaluation of a checkpoint leaves the training run's picture as it is.
        picture_name = f"alignment_step{step}.png" if mode == "eval" else "alignment.png"
        picture = alignment_picture(
            trainer, trainer.workpath / picture_name, writer=writer, step=step
        )
        if picture is not None:
            result["picture"] = picture
    writer.flush()
    return result


def alignment_picture(
    trainer: Trainer,
    path: str | os.PathLike,
    name: str | None = None,
    writer: metric_writers.MetricWriter | None = None,
    step: int = 0,
) -> str | None:
    """Draws the entity-to-region alignment of the first video of an evaluation dataset;
    `writer` also gets it as the TensorBoard image "alignment" at `step`.

    Every process calls it: with several processes the parameters are gathered from all of
    them, then process 0 alone runs the model on its host copy, draws and writes the
    picture (the others return None).
    """
    name = name or next(iter(trainer.config.evals))
    cfg = trainer.config.evals[name]
    spec = dataset_spec(cfg, f"evals.{name}", train=False)
    clip = dataclasses.replace(spec.clip, num_clips=1, num_crops=1)
    # The same first video whatever the process.
    read = dataclasses.replace(spec.read, workers=0, shard_index=0, shard_count=1)
    it, info = pipeline.make_eval_iterator(spec.source, clip, 1, read=read)
    class_emb = trainer.class_embeddings(class_names_of(cfg, info))
    params, frozen = trainer.params, trainer.frozen
    if jax.process_count() > 1:
        gather = jax.experimental.multihost_utils.process_allgather
        params, frozen, class_emb = gather((params, frozen, class_emb), tiled=True)
        if jax.process_index() > 0:
            it.close()
            return None
    batch = next(it)
    it.close()
    frames = batch["video"][0, 0]  # [T, S, S, 3] uint8
    model = nnx.merge(trainer.graphdef, params, frozen)
    out = explain.explain_views(model, frames[None], np.asarray(class_emb))
    entities = [e["unit"] for e in read_entities(trainer.config.model.corpus.path)]
    picture = viz.alignment_grid(
        frames, out["entity_index"], out["dest"], entities, trainer.clip.config.vision.patch_size
    )
    viz.write_png(picture, path)
    if writer is not None:
        writer.write_images(step, {"alignment": picture[None]})
    return os.fspath(path)
