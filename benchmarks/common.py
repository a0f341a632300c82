"""Shared benchmark helpers: the machine, FLOP counts, peak memory, and contenders timed in turn.

A contender is built by a `"module:function"` builder that returns {"run": callable,
"info": dict} (a run that returns a float has timed itself: those seconds are recorded);
`race` starts each contender in its own process (so peak memory is its own), then times `run`
in turn, round after round, so that every contender sees the same load.
"""

import importlib
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
# XLA_FLAGS for XLA's own (Eigen) dot kernels instead of the default YNNPACK library on CPU.
EIGEN_DOTS = "--xla_cpu_experimental_ynn_fusion_type="


def eigen_dots_env() -> dict[str, str]:
    """A contender's env: this process's XLA_FLAGS plus EIGEN_DOTS."""
    return {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {EIGEN_DOTS}".strip()}


def _cpuinfo(field: str) -> str | None:
    """The first value of a /proc/cpuinfo field ("model name", "flags"), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The processor's model name from /proc/cpuinfo (platform's guess elsewhere)."""
    return _cpuinfo("model name") or platform.processor() or "unknown CPU"


def cores() -> int:
    """CPUs this process may run on (its affinity mask): the size of XLA's and torch's pools."""
    return len(os.sched_getaffinity(0))


def machine() -> str:
    """A one-line description of this machine's processor, core count and JAX backend."""
    import jax

    return (
        f"{cpu_model()}, {os.cpu_count()} cores, jax {jax.__version__} on {jax.default_backend()}"
    )


VERSIONED = ("jax", "jaxlib", "flax", "numpy", "torch", "transformers", "optax")


def machine_info() -> dict[str, Any]:
    """What a timing depends on besides the code: processor, cores, library versions, flags, date.

    Read without importing the libraries (package metadata), so that the parent process of a
    race stays small."""
    from importlib import metadata

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    flags = set((_cpuinfo("flags") or "").split())
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "schedulable_cpus": cores(),
        "isa": sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")),
        "python": platform.python_version(),
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of repeated measurements: what every timed cell reports."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def seed_summary(values: list[float]) -> dict:
    """Mean, population std, min and max of per-seed figures, and the figures themselves."""
    return {
        "mean": statistics.fmean(values),
        "std": statistics.pstdev(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def round_ratios(numerator: list[float], denominator: list[float]) -> dict[str, float]:
    """numerator[i] / denominator[i] per round, as a spread: a ratio of two contenders is taken
    within each round (the same minute of load), never between medians of separate runs."""
    if len(numerator) != len(denominator):
        raise ValueError(f"rounds differ: {len(numerator)} vs {len(denominator)}")
    return spread([n / d for n, d in zip(numerator, denominator, strict=True)])


def per_second(amount: float, seconds: list[float]) -> dict[str, float]:
    """A rate (amount / s) per round, as a spread: clips/s, GFLOP/s."""
    return spread([amount / s for s in seconds])


def speedup(results: dict[str, dict], name: str, baseline: str) -> dict[str, float]:
    """How many times faster `name` ran than `baseline`, per round (baseline s / name s)."""
    return round_ratios(results[baseline]["seconds"], results[name]["seconds"])


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def xla_flops(compiled) -> float:
    """XLA's FLOP count of a compiled function (a multiply-add counts 2)."""
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def compiled_flops(fn, *args) -> float:
    """XLA's FLOP count of fn jitted and compiled for these (possibly abstract) arguments."""
    import jax

    return xla_flops(jax.jit(fn).lower(*args).compile())


def torch_flops(fn) -> float:
    """FLOPs of one call of fn by torch's FlopCounterMode (matmuls, convolutions and attention,
    CPU fused attention included; a multiply-add counts 2, as in XLA; element-wise ops are not
    counted): `benchmarks.flops.torch_flops`."""
    from benchmarks.flops import torch_flops

    return torch_flops(fn)


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(
    conn, builder: str, kwargs: dict[str, Any], env: dict[str, str], cpus: int | None
) -> None:
    """Builds one contender, then runs it on request: "run" → seconds, "stop" → memory."""
    os.environ.update(env)  # before the builder's module imports JAX (XLA_FLAGS)
    if cpus:  # before JAX or torch size their thread pools from the affinity mask
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:cpus])
    module, name = builder.split(":")
    build = getattr(importlib.import_module(module), name)
    rss_imports = peak_rss_mib()  # libraries loaded, nothing built yet
    start = time.perf_counter()
    contender = build(**kwargs)
    info = {**contender["info"], "schedulable_cpus": cores()}
    conn.send({"info": info, "build_seconds": time.perf_counter() - start})
    while conn.recv() == "run":
        start = time.perf_counter()
        timed = contender["run"]()
        # A run may time itself (a float: seconds), e.g. to leave out a pipeline's start-up.
        conn.send(timed if type(timed) is float else time.perf_counter() - start)
    conn.send({"peak_rss_mib": peak_rss_mib(), "rss_after_imports_mib": rss_imports})


def race(
    contenders: dict[str, tuple],
    rounds: int,
    warmup: int = 1,
    together: bool = True,
    parallel_build: bool = False,
) -> dict[str, dict[str, Any]]:
    """Times contenders {name: (builder, kwargs[, env[, cpus]])} in turn, `rounds` times after
    `warmup` calls; env is set in the contender's process before its builder's module is
    imported, and cpus (an int) pins that process to so many cores (a 1-thread row).

    Each runs in its own process, so its peak RSS is its own (libraries included; the RSS after
    the imports is reported beside it). With `together`, all are built first (one at a time) and
    then timed round after round (`parallel_build` builds them all at once: faster on a shared
    machine, more memory); otherwise each is built, timed and stopped before the next (one in
    memory at a time, for large ones). Returns {name: {info, seconds, median_s, ...}}.
    """
    context = multiprocessing.get_context("spawn")
    workers, results = {}, {}

    def launch(name):
        builder, kwargs, env, cpus = (*contenders[name], {}, None)[:4]
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, builder, kwargs, env, cpus))
        process.start()
        workers[name] = (process, parent)

    def ready(name):
        results[name] = {**workers[name][1].recv(), "seconds": []}
        print(f"built {name} in {results[name]['build_seconds']:.0f} s", flush=True)

    def start(name):
        launch(name)
        ready(name)

    def call(name, record):
        time.sleep(0.5)  # lets the previous contender's idle threads stop spinning
        workers[name][1].send("run")
        seconds = workers[name][1].recv()
        if record:
            results[name]["seconds"].append(seconds)

    def stop(name):
        process, conn = workers.pop(name)
        conn.send("stop")
        results[name].update(conn.recv())
        process.join()
        r = results[name]
        r["time_s"] = spread(r["seconds"])
        r["median_s"] = r["time_s"]["median"]
        print(f"{name}: median {r['median_s']:.2f} s of {r['seconds']}", flush=True)

    names = list(contenders)
    if together:
        if parallel_build:
            for name in names:
                launch(name)
            for name in names:
                ready(name)
        else:
            for name in names:
                start(name)
        for i in range(warmup + rounds):
            for name in names:
                call(name, record=i >= warmup)
            print(f"round {i + 1 - warmup} of {rounds} done", flush=True)
        for name in names:
            stop(name)
    else:
        for name in names:
            start(name)
            for i in range(warmup + rounds):
                call(name, record=i >= warmup)
            stop(name)
    return results


def run_record(args) -> dict[str, Any]:
    """What every result file starts with: the command, the machine and the load at start."""
    return {
        "command": "PYTHONPATH=. python "
        + " ".join([os.path.relpath(sys.argv[0], RESULTS.parents[1])] + sys.argv[1:]),
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "machine_info": machine_info(),
        "load_average_start": load_average(),
    }


def write_json(path: str | Path, result: dict[str, Any]) -> None:
    """Writes a result file (indented JSON), making its folder."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    """Writes a result file, adding the load average at the end of the run."""
    result["load_average_end"] = load_average()
    result["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_json(path, result)


def parse_value(text: str):
    """A --set value: int, float, bool, a tuple (comma-separated in parentheses) or a string."""
    if text in ("True", "False"):
        return text == "True"
    if text.startswith("(") and text.endswith(")"):
        return tuple(parse_value(t.strip()) for t in text[1:-1].split(",") if t.strip())
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_sets(parser, items: list[str]) -> dict[str, Any]:
    """--set key=value items as {key: parse_value(value)}; a malformed item is a usage error."""
    for item in items:
        if "=" not in item:
            parser.error(f"--set {item!r}: expected key=value (e.g. model.gate_init=0.0)")
    return {k: parse_value(v) for k, v in (item.split("=", 1) for item in items)}


def apply_overrides(config, overrides: dict) -> None:
    """Sets dotted keys (model.adapter.kind=...) on a config; unknown keys fail by name."""
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for name in parents:
            node = node[name]
        if leaf not in node:
            raise KeyError(f"--set {key}: no such config key")
        node[leaf] = value
