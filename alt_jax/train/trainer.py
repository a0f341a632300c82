"""The Trainer: one run's split model, shardings and compiled steps; training with orbax resume,
evaluation, feature extraction and the appearance probe.

The workdir (checkpoints, metrics, reports) may be local or gs://: every path on it goes through
etils.epath (pathlib.Path would turn "gs://b/run" into "gs:/b/run"). In a multi-process run every
process trains on its slice of each global batch and saves checkpoints jointly; only process 0
writes metrics and reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metric_writers, periodic_actions
from etils import epath
from flax import nnx

from alt_jax import grounding, text
from alt_jax.builders import build_model
from alt_jax.configs_lib import ConfigError, prepare_run_config
from alt_jax.corpus import read_entities
from alt_jax.data import batching
from alt_jax.data.normalize import normalize_clip
from alt_jax.models.alt import ALT, count_parameters, split_trainable
from alt_jax.progress import Progress, phase
from alt_jax.train import checkpoint, evaluation, optim, probe_fit, restore, sharding
from alt_jax.train import features as features_lib
from alt_jax.train.datasets import DatasetSpec, class_names_of, dataset_spec
from alt_jax.train.preemption import Preempted, Preemption
from alt_jax.train.steps import make_eval_step, make_train_step, tree_all_finite
from alt_jax.train.writers import (
    TrainMetrics,
    drop_records_after,
    make_writer,
    write_config_json,
)


class NonFiniteError(RuntimeError):
    """Training met a non-finite loss or gradient norm (config.nonfinite="stop")."""


@dataclasses.dataclass
class Trainer:
    """Holds the split model, shardings and compiled steps of one run."""

    config: ml_collections.ConfigDict
    workdir: str
    model: ALT | None = None

    def __post_init__(self):
        # Validated before the backbone is built (a bad value fails in a second); paths resolved
        # now are recorded in every checkpoint and mean the same files from any folder.
        self.config = prepare_run_config(self.config)
        cfg = self.config
        self.workdir = checkpoint.absolute(str(self.workdir))
        self.workpath = epath.Path(self.workdir)
        self.mesh = sharding.make_mesh(cfg.mesh)
        model = self.model
        if model is None:  # the start-up's longest part: weights, corpus encoding, compiles
            with phase(f"building the model ({cfg.model.head})"):
                model = build_model(cfg.model, seed=cfg.seed)
        self.clip = model.clip
        self.graphdef, params, frozen = split_trainable(model)
        rules = tuple(tuple(rule) for rule in cfg.sharding_rules)
        self.param_shardings = sharding.state_shardings(params, self.mesh, rules)
        self.frozen_shardings = sharding.state_shardings(frozen, self.mesh, rules)
        self.params = jax.device_put(params, self.param_shardings)
        self.frozen = jax.device_put(frozen, self.frozen_shardings)
        self.replicated = sharding.replicated(self.mesh)
        self.batch_sharding = sharding.batch_sharding(self.mesh)
        logging.info(
            "devices: %d (%s), processes: %d, mesh: %s",
            jax.device_count(),
            jax.devices()[0].platform,
            jax.process_count(),
            dict(self.mesh.shape),
        )
        logging.info(
            "parameters: %d trainable, %d frozen",
            count_parameters(self.params),
            count_parameters(self.frozen),
        )
        self._class_cache: dict[tuple, jax.Array] = {}
        # Per step of this process: the step, its loss (device array) and the dataset indices of
        # the videos it read; tests check resumption and sharding with it.
        self.step_log: list[dict[str, Any]] = []

    # -- class embeddings ----------------------------------------------------------------------

    def class_embeddings(self, names: list[str]) -> jax.Array:
        """Prompt-ensembled class embeddings [C, d], computed once per class list."""
        key = tuple(names)
        if key not in self._class_cache:
            emb = text.class_embeddings(self.clip, names, tuple(self.config.model.prompt_templates))
            if self.config.model.center_class_embeddings:
                emb = text.center(emb)
            self._class_cache[key] = jax.device_put(jnp.asarray(emb), self.replicated)
        return self._class_cache[key]

    # -- steps -----------------------------------------------------------------------------------

    def compile_train_step(self, tx: optax.GradientTransformation, opt_shardings: Any) -> Callable:
        """The jitted train step with explicit shardings; params and optimizer state donated."""
        step = make_train_step(self.graphdef, tx, self.config.model.label_smoothing)
        return jax.jit(
            step,
            in_shardings=(
                self.param_shardings,
                self.frozen_shardings,
                opt_shardings,
                self.replicated,
                self.batch_sharding,
                self.replicated,
                self.replicated,
            ),
            out_shardings=(self.param_shardings, opt_shardings, self.replicated),
            donate_argnums=(0, 2),
        )

    def compile_eval_step(self) -> Callable:
        """The jitted multi-view evaluation step."""
        return jax.jit(
            make_eval_step(self.graphdef),
            in_shardings=(
                self.param_shardings,
                self.frozen_shardings,
                self.replicated,
                self.batch_sharding,
            ),
            out_shardings=self.batch_sharding,
        )

    # -- evaluation ------------------------------------------------------------------------------

    def cached_eval_path(self, name: str) -> str | None:
        """The feature-cache file of evaluation dataset `name`, when the cache has one."""
        if not self.config.feature_cache:
            return None
        # Checked against the cache's manifest on every use: cheap (sizes and file indices).
        cache = features_lib.check_cache(self.config.feature_cache, self.config, train=False)
        return cache["evals"].get(name)

    def _evaluate_videos(
        self, eval_step, class_emb, it, info, name: str
    ) -> tuple[np.ndarray, np.ndarray, int]:
        allgather = jax.experimental.multihost_utils.process_allgather
        probs, labels = [], []
        # Counted from the host's `valid` mask of all processes; the total is the largest shard
        # times the processes (exact with one), so at most processes - 1 too many.
        total = info.num_examples * jax.process_count()
        with Progress(f"eval {name}", total, unit="videos") as bar:
            for _ in range(info.num_batches):
                batch = next(it)
                videos = sharding.global_batch({"video": batch["video"]}, self.mesh)["video"]
                out = allgather(eval_step(self.params, self.frozen, class_emb, videos), tiled=True)
                valid = np.asarray(allgather(batch["valid"], tiled=True))
                probs.append(np.asarray(out)[valid])
                labels.append(np.asarray(allgather(batch["label"], tiled=True))[valid])
                bar.update(int(valid.sum()))
        skipped = sum(batching.skipped_per_epoch(it))
        return np.concatenate(probs), np.concatenate(labels), skipped

    def alignment_quality(self, cfg, name: str, class_emb) -> dict | None:
        """The alignment's grounding on an evaluation dataset whose videos have object masks
        (alt_jax.grounding), or None (no masks, no entity alignment, several processes)."""
        model = nnx.merge(self.graphdef, self.params, self.frozen)
        if getattr(model, "queries", None) != "entities" or jax.process_count() > 1:
            return None
        spec = dataset_spec(cfg, f"evals.{name}", train=False)
        units = [e["unit"] for e in read_entities(self.config.model.corpus.path)]
        return grounding.dataset_grounding(
            model, spec.source, np.asarray(class_emb), units, spec.clip
        )

    def features_fn(self) -> Callable:
        """Jitted frozen encoder: uint8 videos [B, T, H, W, 3] → ALT.video_features outputs."""

        @jax.jit
        def encode(frozen, videos):
            model = nnx.merge(self.graphdef, self.params, frozen)
            return model.video_features(normalize_clip(videos))

        return lambda videos: encode(self.frozen, videos)

    def fit_probe(
        self,
        params: nnx.State,
        class_emb: jax.Array,
        data: DatasetSpec | None,
        per_process_batch: int,
    ) -> tuple[nnx.State, dict]:
        """The appearance probe (model.probe) fitted on `probe.views` augmented views of the
        training clips: the feature cache's first views, or passes over the videos of `data`
        (None with a cache) in dataset order with the augmentation of seeds seed, seed + 1, …
        (the cache's views)."""
        cfg = self.config
        views, max_clips = int(cfg.model.probe.views), int(cfg.model.probe.max_clips)
        logging.info(
            "fitting the appearance probe: %d views of %s training clips", views, max_clips or "all"
        )
        parts = []
        if cfg.feature_cache:
            paths = features_lib.check_cache(cfg.feature_cache, cfg, train=True)["train"]
            for path in paths[:views]:
                batches = features_lib.eval_feature_batches(path, 64)
                parts.append(probe_fit.collect(batches, math.ceil(max_clips / 64) or None))
        else:
            encode = self.features_fn()
            for view in range(views):
                it, info = data.train_iterator(
                    per_process_batch, seed=cfg.seed + view, num_epochs=1, shuffle=False
                )
                count = probe_fit.batches_for(max_clips, cfg.batch_size, info.num_batches)
                with contextlib.closing(it):  # read in part: its prefetch thread is stopped
                    parts.append(probe_fit.collect_videos(it, encode, count, self.mesh))
        # Whole batches are read; each view keeps exactly max_clips (0: all) clips.
        rows = {k: np.concatenate([p[k][: max_clips or None] for p in parts]) for k in parts[0]}
        return probe_fit.fit_into(params, rows, class_emb)

    def extract_features(self, out_dir: str, train_views: int) -> dict[str, int]:
        """Writes the feature cache (`features.extract`) with this run's frozen encoder."""
        return features_lib.extract(self.config, self.features_fn(), out_dir, train_views)

    def evaluate(self, step: int, writer: metric_writers.MetricWriter) -> dict[str, dict]:
        """Evaluates every dataset in config.evals; writes reports; returns metrics per dataset."""
        results = {}
        eval_step = self.compile_eval_step()
        for name, cfg in self.config.evals.items():
            start = time.perf_counter()
            it, info = dataset_spec(cfg, f"evals.{name}", train=False).eval_iterator()
            class_emb = self.class_embeddings(class_names_of(cfg, info))
            cached = self.cached_eval_path(name)
            with contextlib.closing(it):  # stopped however the evaluation ends (a stop signal)
                if cached is not None:
                    probs, labels = features_lib.evaluate_cached(
                        partial(eval_step, self.params, self.frozen, class_emb),
                        cached,
                        cfg.batch_size,
                        name,
                    )
                    skipped = 0
                else:
                    probs, labels, skipped = self._evaluate_videos(
                        eval_step, class_emb, it, info, name
                    )
            names = class_names_of(cfg, info)
            extra = {}
            if jax.process_index() == 0:
                alignment = self.alignment_quality(cfg, name, class_emb)
                if alignment is not None:
                    extra["grounding"] = alignment
                metrics = evaluation.write_reports(
                    self.workpath / "eval", name, step, probs, labels, names, writer, extra
                )
                if alignment is not None:
                    metrics.update(
                        grounding=alignment["grounding"],
                        grounding_background_object_entity=alignment["background_object_entity"],
                        grounding_most_used_share=alignment["most_used_share"],
                    )
            else:
                metrics = evaluation.classification_metrics(probs, labels)
            metrics["skipped_videos"] = skipped
            metrics["seconds"] = time.perf_counter() - start
            writer.write_scalars(step, {f"eval/{name}/{k}": v for k, v in metrics.items()})
            logging.info(
                "eval %s step %d: top1 %.4f top5 %.4f mean-class %.4f (%d videos, %d skipped)",
                name,
                step,
                metrics["top1"],
                metrics["top5"],
                metrics["mean_class_accuracy"],
                metrics["num_examples"],
                skipped,
            )
            results[name] = metrics
        return results

    # -- training --------------------------------------------------------------------------------

    def train(
        self, *, max_steps: int | None = None, preemption: Preemption | None = None
    ) -> dict[str, Any]:
        """Trains (resuming from the workdir's latest checkpoint); returns the final metrics.

        `max_steps` stops early after that many steps of this call (tests use it to simulate a
        killed process); the schedule still follows config.num_train_steps. `preemption`: the
        run's SIGTERM/SIGINT policy when the caller installed one (else this call installs its
        own). Holds the workdir's lock (checkpoint.workdir_lock) while it runs; a resume with a
        config that differs from the checkpoint's (beyond checkpoint.RESUMABLE_FIELDS) is a
        ConfigError; a non-finite loss or gradient norm is a NonFiniteError (config.nonfinite).
        """
        checkpoint.ensure_writable(self.workdir)
        # The input iterators are closed however training ends: their background threads stop
        # before the caller reports (an error line is then the run's last line).
        with checkpoint.workdir_lock(self.workdir), contextlib.ExitStack() as closing:
            return self._train(max_steps, preemption, closing)

    def _train(
        self,
        max_steps: int | None,
        preemption: Preemption | None,
        closing: contextlib.ExitStack,
    ) -> dict[str, Any]:
        cfg = self.config
        data = dataset_spec(cfg.data, "data", train=True)
        per_process_batch = cfg.batch_size // jax.process_count()
        if per_process_batch * jax.process_count() != cfg.batch_size:
            raise ValueError(
                f"config.batch_size={cfg.batch_size} is not divisible by {jax.process_count()} processes"
            )
        train_iter, info = data.train_iterator(per_process_batch, seed=cfg.seed)
        closing.callback(train_iter.close)
        batch_keys = ("video", "label")
        if cfg.feature_cache:
            # Same source (for class names and epoch length); batches come from the cache. Every
            # cache file the run reads, evaluation sets included, is checked before the first step.
            cache = features_lib.check_cache(cfg.feature_cache, cfg, train=True)
            train_iter = features_lib.train_feature_iterator(
                cache["train"],
                per_process_batch,
                seed=cfg.seed,
                shard_index=jax.process_index(),
                shard_count=jax.process_count(),
            )
            closing.callback(train_iter.close)
            batch_keys = (*features_lib.FEATURE_KEYS, "label")
        total_steps = cfg.num_train_steps or cfg.num_epochs * max(1, info.num_batches)
        # Steps count micro-batches; the optimizer (and so its schedule) counts updates.
        accum = int(cfg.optim.accum_steps)
        updates = optim.num_updates(total_steps, accum)
        if updates < 1:
            raise ValueError(
                f"{total_steps} train steps make no update with config.optim.accum_steps={accum}"
            )
        if total_steps % accum:
            logging.warning(
                "%d train steps are not a multiple of config.optim.accum_steps=%d: the last %d "
                "micro-batches are accumulated but never applied",
                total_steps,
                accum,
                total_steps % accum,
            )
        tx, schedule = optim.make_optimizer(cfg.optim, updates)
        self.schedule = schedule
        opt_shardings = sharding.state_shardings(
            jax.eval_shape(tx.init, self.params), self.mesh, tuple(cfg.sharding_rules)
        )
        opt_state = jax.jit(tx.init, out_shardings=opt_shardings)(self.params)
        class_emb = self.class_embeddings(class_names_of(cfg.data, info))

        ckpt = checkpoint.Checkpointer(
            self.workpath / "checkpoints",
            keep=cfg.keep_checkpoints,
            best_metric="top1",
            async_save=cfg.async_checkpoints,
        )
        latest = ckpt.latest_meta()
        if latest is not None:  # a resume: only with the config the checkpoints were made with
            try:
                checkpoint.check_resume_config(
                    latest[1], cfg.to_json_best_effort(), latest[0], self.workdir
                )
            except ValueError as e:
                ckpt.close()
                raise ConfigError(str(e)) from e
        if jax.process_index() == 0:
            # What this run is, readable without orbax (the checkpoints' meta holds it too);
            # written once the config is known to be the run's (a refused resume leaves it).
            write_config_json(self.workpath / "config.json", cfg)
        params = self.params
        # The rng is saved with the optimizer state: replicated over the mesh, as orbax cannot
        # save a single-device array when several processes write one checkpoint.
        rng_data = np.asarray(jax.random.key_data(jax.random.key(cfg.seed)))
        opt = {"state": opt_state, "rng": jax.device_put(rng_data, self.replicated)}
        start_step = 0
        with phase(
            f"restoring the latest checkpoint (step {latest and latest[0]})", enabled=bool(latest)
        ):
            restored = ckpt.restore_latest(
                checkpoint.abstract_like(params), checkpoint.abstract_like(opt), move_damaged=True
            )
        if restored is not None:
            start_step, params, opt, data_state, _ = restored
            own_state = checkpoint.own_process_state(data_state)
            if own_state is not None:
                train_iter.set_state(own_state)
            logging.info("resumed from step %d in %s", start_step, self.workdir)
        elif cfg.init_from:  # a new run: its trainable parameters start from a trained run's
            params, from_step = restore.init_params_from(cfg.init_from, params)
            logging.info("trainable parameters from %s (step %d)", cfg.init_from, from_step)
        probe_summary = None
        if restored is None and cfg.model.probe.enabled:  # ALT's head only (validate_config)
            # Every new run fits it on its own training clips and class names (init_from too).
            # A pass over the training set (hours at Kinetics size): a stop signal ends it at
            # once; nothing is saved before step 0, so the next start fits again.
            interruptible = preemption.interruptible() if preemption else contextlib.nullcontext()
            with interruptible:
                params, probe_summary = self.fit_probe(params, class_emb, data, per_process_batch)
        if jax.process_index() == 0:
            dropped = drop_records_after(self.workpath / "metrics.jsonl", start_step)
            if dropped:
                logging.info("metrics.jsonl: %d records after step %d removed", dropped, start_step)
        opt_state, rng_data = opt["state"], opt["rng"]
        base_key = jax.random.wrap_key_data(np.asarray(rng_data))
        meta = {
            "backbone": cfg.model.backbone.to_dict(),
            "corpus": cfg.model.corpus.path,
            "config": cfg.to_json_best_effort(),
        }

        train_step = self.compile_train_step(tx, opt_shardings)
        writer = make_writer(self.workpath)
        if probe_summary is not None:
            writer.write_scalars(start_step, {f"probe/{k}": v for k, v in probe_summary.items()})
        report = periodic_actions.ReportProgress(num_train_steps=total_steps, writer=writer)
        accumulated = None
        last_metrics: dict[str, Any] = {}
        step = last_saved = start_step
        stop_at = total_steps if max_steps is None else min(total_steps, start_step + max_steps)
        data_state = train_iter.get_state()  # the position after the last completed step

        # config.nonfinite: "stop" halts the updates in the step itself from the first
        # non-finite one on (the host stops at its next read of the metrics), "skip" drops
        # that step's update alone. Either way no non-finite value reaches the state.
        halt = cfg.nonfinite == "stop"
        apply = jax.device_put(np.bool_(True), self.replicated)
        unchecked: list[tuple[int, dict]] = []  # (step, metrics) not yet read on the host
        skipped_steps = 0

        def check_finite() -> None:
            # Called where the host reads metrics or saves anyway: no extra sync per step.
            nonlocal skipped_steps
            keys = ("finite", "loss", "grad_norm")
            values = jax.device_get([[m[k] for k in keys] for _, m in unchecked])
            steps = [s for s, _ in unchecked]
            unchecked.clear()
            for at, (finite, loss, grad_norm) in zip(steps, values):
                if finite:
                    continue
                what = "loss" if not np.isfinite(loss) else "gradient norm"
                line = f"non-finite {what} at step {at} (loss {loss}, gradient norm {grad_norm})"
                if halt:
                    where = f"step {last_saved}" if last_saved else "none"
                    raise NonFiniteError(
                        f"{line}: training stopped, nothing after it is saved (latest "
                        f"checkpoint: {where}); config.nonfinite='skip' would skip such steps"
                    )
                skipped_steps += 1
                logging.warning("%s: update skipped (%d skipped so far)", line, skipped_steps)

        def save(metrics: dict[str, float] | None = None) -> None:
            check_finite()
            # The step already keeps non-finite updates out; this catches a state that came in
            # non-finite (a checkpoint or init_from written before that guard).
            if not bool(tree_all_finite((params, opt_state))):
                raise NonFiniteError(
                    f"the state after step {step} holds non-finite values: not saved"
                )
            opt = {"state": opt_state, "rng": rng_data}
            states = checkpoint.gather_process_states(data_state)
            ckpt.save(step, params, opt, states, meta, metrics, force=True)

        # The caller's SIGTERM/SIGINT policy, or one installed for this call alone.
        policy = Preemption() if preemption is None else contextlib.nullcontext(preemption)
        try:
            with policy as preemption:
                try:
                    while step < stop_at:
                        with preemption.interruptible():  # the input pipeline may stall
                            batch = next(train_iter)
                        gbatch = sharding.global_batch({k: batch[k] for k in batch_keys}, self.mesh)
                        rng = jax.random.fold_in(base_key, step)
                        # The first call traces and compiles; it returns before the step runs.
                        with phase("compiling the train step", enabled=step == start_step):
                            params, opt_state, metrics = train_step(
                                params, self.frozen, opt_state, class_emb, gbatch, rng, apply
                            )
                        if halt:
                            apply = metrics["applied"]
                        step += 1
                        data_state = train_iter.get_state()
                        unchecked.append((step, metrics))
                        self.step_log.append(
                            {
                                "step": step,
                                "loss": metrics["loss"],
                                "index": np.asarray(batch["index"]),
                            }
                        )
                        report(step)
                        # A skipped step's (non-finite) values stay out of the averages.
                        step_metrics = TrainMetrics.single_from_model_output(
                            **{k: metrics[k][None] for k in ("loss", "accuracy", "grad_norm")},
                            mask=metrics["finite"][None],
                        )
                        accumulated = (
                            step_metrics if accumulated is None else accumulated.merge(step_metrics)
                        )
                        stop = preemption.should_stop(step)
                        log_now = step % cfg.log_every == 0 or step == stop_at
                        eval_now = (
                            cfg.eval_every
                            and step % cfg.eval_every == 0
                            and step < total_steps
                            and cfg.evals
                            and not stop
                        )
                        save_now = step % cfg.checkpoint_every == 0 or step == stop_at or stop
                        if log_now or eval_now or save_now:
                            check_finite()
                        if log_now:
                            # Steps whose update was skipped are left out of the averages; a
                            # window of skipped steps alone has none to write.
                            computed = accumulated.compute().items()
                            scalars = {k: float(v) for k, v in computed if np.isfinite(v)}
                            scalars["learning_rate"] = optim.learning_rate_at(schedule, step, accum)
                            if not cfg.feature_cache:
                                skipped = sum(batching.skipped_per_epoch(train_iter))
                                scalars["skipped_videos"] = float(skipped)
                            if skipped_steps:
                                scalars["skipped_steps"] = float(skipped_steps)
                            writer.write_scalars(
                                step, {f"train/{k}": v for k, v in scalars.items()}
                            )
                            last_metrics = scalars
                            accumulated = None
                        evaluated = None
                        if eval_now:
                            self.params = params
                            with preemption.interruptible():
                                results = self.evaluate(step, writer)
                            # The first evaluation dataset ranks checkpoints for "keep the best".
                            evaluated = {"top1": next(iter(results.values()))["top1"]}
                        if save_now or evaluated:
                            save(evaluated)
                            last_saved = step
                        if stop:
                            break
                except Preempted:
                    # Raised while waiting for data or evaluating: params, optimizer state and
                    # data position are those after `step`, which is saved unless it already was.
                    if step > last_saved:
                        save()
                    logging.warning(
                        "stopped by %s after step %d", preemption.signal_name or "SIGTERM", step
                    )
        except NonFiniteError as e:
            logging.error("%s", e)
            ckpt.close()  # the saves before it are good: pending asynchronous ones are written
            raise
        ckpt.close()
        self.params = params
        self.opt_state = opt_state
        self.step = step
        writer.flush()
        return {
            "step": step,
            "total_steps": total_steps,
            "updates": optim.num_updates(step, accum),
            "preempted": preemption.requested,
            **last_metrics,
            "skipped_steps": skipped_steps,
        }

    def restore_params(self, step: int | None = None) -> int:
        """Loads the trainable parameters of the workdir's checkpoint `step` (None: the latest
        readable one); returns its step."""
        ckpt = checkpoint.Checkpointer(self.workpath / "checkpoints", best_metric=None)
        try:
            if step is None:
                restored = ckpt.restore_latest(checkpoint.abstract_like(self.params))
            elif step in ckpt.all_steps():
                restored = ckpt.restore_step(step, checkpoint.abstract_like(self.params))
            else:
                raise ConfigError(
                    f"--step={step}: {self.workdir}/checkpoints has no step {step}; "
                    f"steps: {ckpt.all_steps()}"
                )
        finally:
            ckpt.close()
        if restored is None:
            raise FileNotFoundError(f"{self.workdir}/checkpoints: no checkpoint to evaluate")
        self.step, self.params = restored[0], restored[1]
        return self.step
