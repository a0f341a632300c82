"""Trains and evaluates ALT: `alt-jax-train --config=k400 --workdir=DIR`.

The same as `python -m alt_jax.main --config=configs/k400.py --workdir=DIR` in a clone; `--config`
takes a config file's path or a shipped config's name (alt_jax/config_files.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

# The imports below (JAX, TensorFlow through clu) take seconds: the first log line says how many.
IMPORTS_START = time.monotonic()

from alt_jax.logs import quiet_frameworks  # noqa: E402

quiet_frameworks()  # before TensorFlow loads (through clu): its INFO lines are filtered at load

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from alt_jax.config_files import resolve_config_flag  # noqa: E402
from alt_jax.configs_lib import ConfigError  # noqa: E402
from alt_jax.data.batching import TooManySkipped  # noqa: E402
from alt_jax.progress import format_duration  # noqa: E402
from alt_jax.train.checkpoint import CheckpointError, WorkdirError  # noqa: E402
from alt_jax.train.runner import train_and_evaluate  # noqa: E402
from alt_jax.train.trainer import NonFiniteError  # noqa: E402
from alt_jax.weights import BackboneUnavailable  # noqa: E402

config_flags.DEFINE_config_file(
    "config",
    None,
    "Config file (get_config()) or a shipped config's name: k400, demo:DATA (the file's "
    "argument after the colon), alt_jax:configs/k400.py.",
    lock_config=True,
)
flags.DEFINE_string(
    "workdir",
    None,
    "Training workdir: checkpoints, metrics, reports and log.txt go here (local or gs://).",
)
flags.DEFINE_integer(
    "step", None, "Checkpoint step that --mode=eval evaluates (default: the latest).", lower_bound=0
)
flags.DEFINE_enum(
    "mode",
    "train_and_eval",
    ["train", "eval", "train_and_eval", "extract_features"],
    "What to run; extract_features writes the frozen-encoder cache to config.feature_cache.",
)
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS


def maybe_initialize_distributed() -> bool:
    """Joins JAX's multi-process runtime when started as one of several processes; returns
    whether it did.

    Explicit: JAX_COORDINATOR_ADDRESS (host:port of process 0), JAX_NUM_PROCESSES and
    JAX_PROCESS_ID (launch/gpu_slurm.sh sets them). jax 0.10.2's `jax.distributed.initialize()`
    reads only the address from the environment itself, so count and id are passed here; when
    they are absent it detects them (SLURM under srun, Cloud TPU VMs). ALT_JAX_MULTIHOST=1
    (launch/tpu_vm.sh sets it) asks for that detection alone.
    """
    env = os.environ
    multi = (
        env.get("JAX_COORDINATOR_ADDRESS")
        or env.get("ALT_JAX_MULTIHOST") == "1"
        or int(env.get("SLURM_NTASKS", "1")) > 1
        or "," in env.get("TPU_WORKER_HOSTNAMES", "")
    )
    if not multi:
        return False
    kwargs = {}
    if env.get("JAX_NUM_PROCESSES"):
        kwargs["num_processes"] = int(env["JAX_NUM_PROCESSES"])
    if env.get("JAX_PROCESS_ID"):
        kwargs["process_id"] = int(env["JAX_PROCESS_ID"])
    # CPU processes run their cross-process collectives over gloo (TCP); the GPU and TPU
    # backends ignore this. Must be set before the first backend is created.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=env.get("JAX_COORDINATOR_ADDRESS"), **kwargs)
    return True


def finish_distributed() -> None:
    """Barrier: no process exits (tearing down the coordinator or a pending checkpoint write)
    before all have finished."""
    multihost_utils.sync_global_devices("alt_jax.main done")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_frameworks()  # again: app.run installed absl's handler after the first call
    maybe_initialize_distributed()
    if jax.process_index() > 0:
        logging.set_verbosity(logging.WARNING)
    logging.info(
        "alt_jax.main --mode=%s --workdir=%s: started (imports %s)",
        FLAGS.mode,
        FLAGS.workdir,
        format_duration(time.monotonic() - IMPORTS_START),
    )
    try:
        if FLAGS.step is not None and FLAGS.mode != "eval":
            raise ConfigError(f"--step={FLAGS.step} goes with --mode=eval (training resumes)")
        result = train_and_evaluate(
            FLAGS.config,
            FLAGS.workdir,
            FLAGS.mode,
            step=FLAGS.step,
            command=["python", "-m", "alt_jax.main", *sys.argv[1:]],
        )
    except (
        ConfigError,
        TooManySkipped,
        CheckpointError,
        WorkdirError,
        NonFiniteError,
        BackboneUnavailable,
    ) as e:
        # Errors of the inputs (or of a diverging run), not of the program: one line, no
        # traceback; a config error exits 2, as a bad flag does. The config is validated where
        # the run starts (train_and_evaluate), before the backbone is built or data read.
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2 if isinstance(e, ConfigError) else 1)
    except KeyboardInterrupt:
        # A second Ctrl-C while the first one's save was under way (or one before training).
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    if jax.process_index() == 0:
        print(json.dumps(result, indent=1, default=float))
        for name, metrics in result.get("eval", {}).items():
            print(
                f"{name}: top-1 {100 * metrics['top1']:.1f}%  top-5 {100 * metrics['top5']:.1f}%"
                f"  mean class {100 * metrics['mean_class_accuracy']:.1f}%"
                f"  ({metrics['num_examples']} videos)"
            )
        if "picture" in result:
            print(f"entity-to-region alignment picture: {result['picture']}")
    finish_distributed()


def check_overrides(argv: list[str]) -> str | None:
    """An error naming a `--config.x.y=v` override whose key does not exist, with the valid keys
    at that level (config_flags itself only says which key failed)."""
    config_arg = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), None)
    overrides = [a[len("--config.") :].split("=", 1)[0] for a in argv if a.startswith("--config.")]
    if config_arg is None or not overrides:
        return None
    path, _, arg = config_arg.partition(":")
    spec = importlib.util.spec_from_file_location("_alt_jax_config", path)
    if spec is None or not os.path.isfile(path):
        return f"--config: {path} is not a config file"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(arg) if arg else module.get_config()
    for override in overrides:
        node = config
        for i, key in enumerate(override.split(".")):
            if not hasattr(node, "keys") or key not in node:
                where = ".".join(["config", *override.split(".")[:i]])
                valid = sorted(node.keys()) if hasattr(node, "keys") else []
                return f"--config.{override}: {where} has no key {key!r}; valid keys: {valid}"
            node = node[key]
    return None


def run() -> None:
    """The command line (`alt-jax-train`, `python -m alt_jax.main`): `--config` resolved to a
    file (a shipped config's name included; an unknown one is one error line, exit 2), the
    overrides checked, then the run."""
    try:
        sys.argv[1:] = resolve_config_flag(sys.argv[1:])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    error = check_overrides(sys.argv[1:])
    if error:
        sys.exit(f"error: {error}")
    app.run(main)


if __name__ == "__main__":
    run()
