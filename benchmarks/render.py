"""Renders BENCHMARKS.md from the result files in benchmarks/results/.

    PYTHONPATH=. python benchmarks/render.py          # rewrites BENCHMARKS.md

Every figure in BENCHMARKS.md comes from a JSON file written by a benchmark command; the prose
around the tables lives here as templates. tests/test_benchmarks.py checks that the committed
BENCHMARKS.md is what this renders, so the document cannot drift from the data.

A timed table renders only from a result that says where and how it was measured: the machine
(`benchmarks.common.machine_info`), the load at both ends, and for every timed cell a spread
(median, min and max over at least `MIN_ROUNDS` rounds, `benchmarks.common.spread`). A result
without them is refused with `IncompleteResult` naming the file and the key, instead of being
printed as a bare number.
"""

import argparse
import json
import statistics
import textwrap
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
DOC = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
MIN_ROUNDS = 3
MACHINE_KEYS = ("cpu_model", "cpu_count", "schedulable_cpus", "versions", "date")

# docs/method.md §8: the papers' figures. GFLOPs as the papers count them (fvcore: a multiply-add is 1).
PAPERS = [
    ("ALT (paper)", "L/14", "88.1", "4947 total over views", None),
    ("X-CLIP", "B/16, 8 f", "83.8", "145 per view × 4×3", 145.0),
    ("X-CLIP", "L/14, 8 f", "87.1", "658 per view × 4×3", 658.0),
    ("ViFi-CLIP", "B/16, 16 f", "83.9", "281 per view × 4×3", 281.0),
    ("EVL (frozen CLIP)", "L/14, 32 f", "87.3", "8088 total", None),
    ("AIM", "L/14, 8 f", "86.8", "2902 total", None),
    ("VicTR (paper)", "L/14", "87.0", "–", None),
]


class IncompleteResult(ValueError):
    """A result file lacks what a timed table must show (spreads, machine, load)."""


def load(name: str) -> dict | None:
    """A result file, or None when its benchmark has not been run."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def load_timed(name: str) -> dict | None:
    """A timed result file, checked for machine info and load (None when not run)."""
    result = load(name)
    if result is None:
        return None
    for key in ("machine_info", "load_average_start", "load_average_end", "command"):
        if key not in result:
            raise IncompleteResult(f"benchmarks/results/{name}.json: no {key!r}; rerun it")
    for key in MACHINE_KEYS:
        if key not in result["machine_info"]:
            raise IncompleteResult(
                f"benchmarks/results/{name}.json: machine_info has no {key!r}; rerun it"
            )
    result["_name"] = name
    return result


def spread_of(result: dict, value, key: str) -> dict:
    """`value` checked to be a spread of at least MIN_ROUNDS rounds."""
    if not isinstance(value, dict) or not {"median", "min", "max", "n"} <= set(value):
        raise IncompleteResult(
            f"benchmarks/results/{result['_name']}.json: {key} is {value!r}, not a spread "
            "(median, min, max, n); rerun it"
        )
    if value["n"] < MIN_ROUNDS:
        raise IncompleteResult(
            f"benchmarks/results/{result['_name']}.json: {key} has {value['n']} rounds, "
            f"fewer than {MIN_ROUNDS}"
        )
    return value


def cell(result: dict, row: dict, key: str, fmt: str = ".2f", suffix: str = "") -> str:
    """A timed cell: 'median (min–max)' of row[key], refused without a spread."""
    v = spread_of(result, row.get(key), f"{row.get('name', '')}.{key}".lstrip("."))
    return f"{v['median']:{fmt}}{suffix} ({v['min']:{fmt}}–{v['max']:{fmt}})"


def machine_line(result: dict) -> str:
    """Where and when a result was measured: processor, cores, libraries, date, load."""
    m = result["machine_info"]
    v = m["versions"]
    libs = ", ".join(f"{k} {v[k]}" for k in ("jax", "flax", "torch", "transformers") if v.get(k))
    isa = f" ({', '.join(m['isa'])})" if m.get("isa") else ""
    flags = f"; XLA_FLAGS={m['xla_flags']}" if m.get("xla_flags") else ""
    return (
        f"{m['cpu_model']}{isa}, {m['cpu_count']} cores ({m['schedulable_cpus']} schedulable); "
        f"{libs}{flags}; {m['date']}; {loads(result)}"
    )


def threads_line(result: dict) -> str:
    """The cores each contender ran on and PyTorch's thread count, from the rows' info."""
    rows = result["rows"].values() if isinstance(result["rows"], dict) else result["rows"]
    cpus = sorted({row["schedulable_cpus"] for row in rows if "schedulable_cpus" in row})
    torch = sorted({row["torch_threads"] for row in rows if "torch_threads" in row})
    if not cpus:
        return ""
    line = f" Each contender ran on {'/'.join(map(str, cpus))} core(s) (XLA's pool as many threads"
    return line + (f"; PyTorch {'/'.join(map(str, torch))} thread(s))." if torch else ").")


def short_machine(info: dict) -> str:
    """'CPU model (AVX-512, AMX), N cores' for the headline table."""
    names = {"avx512f": "AVX-512", "amx_bf16": "AMX"}
    isa = [names[f] for f in info.get("isa", []) if f in names]
    extensions = f" ({', '.join(isa)})" if isa else ""
    return f"{info['cpu_model']}{extensions}, {info['cpu_count']} cores"


def measured(result: dict, rounds: int) -> str:
    """The command, the machine and the rounds of one timed table."""
    return (
        f"    {result['command']}\n\n"
        f"Measured on {machine_line(result)}.{threads_line(result)} Contenders built first, "
        "then timed in turn for "
        f"{rounds} rounds after a warm-up call; each cell is the median over rounds with "
        f"(min–max), a ratio taken within each round. Results: "
        f"`benchmarks/results/{result['_name']}.json`.\n\n"
    )


def rounds_of(result: dict, rows: list[dict], key: str = "time_s") -> int:
    """The number of timed rounds (checked on the first row's spread)."""
    return spread_of(result, rows[0].get(key), key)["n"]


def missing(name: str, command: str) -> str:
    """The placeholder for a table whose result file is absent."""
    return f"*Not measured yet: `{command}` writes benchmarks/results/{name}.json.*\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def loads(result: dict) -> str:
    """'load average a → b' (1-minute averages at start and end of the run)."""
    return (
        f"load average {result['load_average_start'][0]:.1f} at the start, "
        f"{result['load_average_end'][0]:.1f} at the end"
    )


def mib(x: float) -> str:
    """MiB as GiB with one decimal."""
    return f"{x / 1024:.1f} GiB"


def by_name(result: dict) -> dict[str, dict]:
    """A result's rows by their name."""
    return {row["name"]: row for row in result["rows"]}


INTRO = """\
# Benchmarks

Generated by `benchmarks/render.py` from the JSON files in `benchmarks/results/`; do not edit by
hand. To regenerate, run the benchmark commands (one per table; each names its command below)
and then

    PYTHONPATH=. python benchmarks/render.py

How everything here is measured. One harness (`benchmarks/common.py:race`) times every
comparison: each contender runs in its own process (so its peak memory is its own), all are
built (and compiled) first, then called in turn, one warm-up call and then at least 5 rounds
(3 for the scaling sweep), so that every contender sees the same minutes of a shared machine.
Every time is the median over rounds with its (min–max); every ratio is taken within each round
and then summarised the same way: no ratio divides figures from two runs. Each result file
records the processor, its instruction-set extensions, the core count and the cores each
contender may use (XLA's and PyTorch's thread pools are sized from that affinity mask; PyTorch
gets `torch.set_num_threads` of it), the library versions, XLA_FLAGS, the date and the load
average at both ends; each table prints them. `render.py` refuses a timed result without them.
Absolute times depend on the machine: on another CPU (another vendor, AVX-512 or not) the
framework ratios change too, so read them as this machine's, with the date.

All runs are on CPU, float32 unless a row says bfloat16, random weights at real shapes (speed
and FLOPs depend on shapes, not values; no pretrained weights exist here). FLOPs count a
multiply-add as 2, for JAX (XLA's cost analysis of the compiled program) and PyTorch
(`FlopCounterMode`, with formulas registered for PyTorch's fused CPU attention, which it
otherwise counts as 0: `benchmarks/flops.py`) alike; the papers count a multiply-add as 1, so
GMACs = GFLOPs / 2 is the column to hold against their "GFLOPs". `FlopCounterMode` counts
matmuls, convolutions and attention only; XLA also counts element-wise operations (under 1 % of
a ViT's FLOPs). Each FLOP table is cross-checked against a hand count written in its benchmark's
docstring. Peak memory is a contender process's resident-set high-water mark (`ru_maxrss`):
weights, activations, compiled code and the framework's own runtime (a few hundred MB) together.
"""


def render_headlines() -> str:
    """The headline ratios, each with its spread, file and date."""
    head = "## Headline ratios\n\n"
    lines = []

    def add(claim: str, result: dict | None, row: dict | None, key: str, fmt=".2f", suffix="×"):
        if result is None or row is None:
            return
        lines.append(
            [
                claim,
                cell(result, row, key, fmt, suffix),
                str(spread_of(result, row[key], key)["n"]),
                f"`{result['_name']}.json`, {result['machine_info']['date'][:10]}",
                short_machine(result["machine_info"]),
            ]
        )

    enc = load_timed("profile_encoder")
    if enc:
        rows = by_name(enc)
        add(
            "CLIP-B/16 tower at r = 0 vs the matmul roofline",
            enc,
            rows["tower_r0"],
            "roofline_fraction",
        )
        add(
            "CLIP-B/16 tower at r = 16 vs the matmul roofline",
            enc,
            rows["tower_r16"],
            "roofline_fraction",
        )
        add(
            "our CLIP-B/16 tower vs transformers' (speed, 2 cores)",
            enc,
            rows["tower_r0"],
            "speed_vs_torch_tower_r0",
        )
        add(
            "tower at r = 0 with the attention shipped before, speed vs now",
            enc,
            rows["tower_r0_softmax_attention"],
            "speed_vs_tower_r0",
        )
    one = load_timed("profile_encoder_1thread")
    if one:
        add(
            "our CLIP-B/16 tower vs transformers' (speed, 1 core)",
            one,
            by_name(one)["tower_r0"],
            "speed_vs_torch_tower_r0",
        )
    inf = load_timed("inference")
    if inf:
        rows = by_name(inf)
        add("ALT-B/16 vs X-CLIP-B/16, inference clips/s", inf, rows["alt"], "speed_vs_xclip")
        if "alt_eigen" in rows:
            add("ALT-B/16 with vs without the XLA dot flag", inf, rows["alt_eigen"], "speed_vs_alt")
        if "alt_bf16" in rows:
            add("ALT-B/16 in bfloat16 vs float32", inf, rows["alt_bf16"], "speed_vs_alt")
    tome = load_timed("tome_speed")
    if tome:
        rows = {row["r"]: row for row in tome["rows"]}
        if 16 in rows:
            add(
                "ToMe r = 16 vs r = 0, B/16 tower speed",
                tome,
                {"name": "r16", **rows[16]},
                "speedup",
            )
    cache = load_timed("train_step")
    if cache:
        add(
            "train step from the feature cache vs from video",
            cache,
            {"name": "cache", **cache["rows"]["cache"]},
            "speed_vs_video",
        )
        add(
            "epochs after which the cache (4 views) has paid for its extraction",
            cache,
            {"name": "break_even", "break_even_epochs": cache["break_even_epochs"]},
            "break_even_epochs",
            suffix="",
        )
    scaling = load_timed("scaling")
    if scaling:
        rows = {(r["frames"], r["tome_r"], r["batch"]): r for r in scaling["rows"]}
        b8 = rows.get((8, scaling["args"]["r"], 8))
        add("train step seconds per clip, batch 8 vs batch 1", scaling, b8, "per_clip_vs_batch_1")
    peers = load_timed("train_step_peers")
    if peers:
        rows = by_name(peers)
        best = rows.get("alt_b8") or rows.get("alt_b2")
        add("ALT-B/16 vs X-CLIP-B/16 train step, per clip", peers, best, "speed_vs_xclip_per_clip")
    if not lines:
        return head + "*No timed results yet.*\n"
    return (
        head
        + (
            "Each is a ratio of two contenders timed in the same rounds, median over rounds with "
            "(min–max); the sections below give the set-up and the machine.\n\n"
        )
        + table(["claim", "ratio", "rounds", "result, date", "machine"], lines)
    )


def render_encoder() -> str:
    r = load_timed("profile_encoder")
    head = "## The encoder against the matmul roofline (issue #19)\n\n"
    if r is None:
        return head + missing(
            "profile_encoder", "PYTHONPATH=. python benchmarks/profile_encoder.py"
        )
    rows = by_name(r)
    n = rounds_of(r, r["rows"])
    a = r["args"]
    out = (
        head
        + (
            f"ALT spends nearly all of its time in the frozen CLIP tower (inference section below), "
            f"so the tower is held against what this machine's matrix multiplications allow: "
            f"{a['images']} images (one 8-frame clip) of {a['preset']} at 224, the tower's tokens "
            "through post_layernorm. The roofline is the tower's matmul FLOPs (counted by hand in "
            "`benchmarks/profile_encoder.py`; ToMe's own scoring and scatter left out, so its "
            "bookkeeping counts against it) at the rate of a bare matmul of the tower's MLP shape "
            "measured in the same round by the same framework with the same flags.\n\n"
        )
        + measured(r, n)
    )
    body = []
    for row in r["rows"]:
        if "roofline_fraction" not in row:
            continue
        body.append(
            [
                row["name"],
                row["model"]
                + (" `ynn_fusion_type=`" if row.get("xla_flags") else "")
                + (", attention before" if row.get("attention") == "softmax" else ""),
                f"{row['matmul_gflops']:.1f}",
                cell(r, row, "time_s", ".3f"),
                cell(r, row, "gflops_per_s", ".0f"),
                cell(r, row, "roofline_fraction"),
                cell(r, row, "peak_fraction") if "peak_fraction" in row else "not measured",
                cell(r, row, "speed_vs_tower_r0", suffix="×"),
                mib(row["peak_rss_mib"]),
            ]
        )
    out += table(
        [
            "contender",
            "what",
            "matmul GFLOPs",
            "s / call",
            "GFLOP/s",
            "of the roofline",
            "of the CPU's FP32 peak",
            "speed vs tower_r0",
            "peak RSS",
        ],
        body,
    )
    gemms = [row for row in r["rows"] if "roofline_fraction" not in row]
    out += "\nThe matmuls that set the roofline, in the same rounds:\n\n" + table(
        ["contender", "what", "BLAS", "GFLOP/s", "of the CPU's FP32 peak"],
        [
            [
                row["name"],
                f"{row['model']} ({row['framework']}"
                + (", `ynn_fusion_type=`" if row.get("xla_flags") else "")
                + ")",
                row.get("blas", "–"),
                cell(r, row, "gflops_per_s", ".0f"),
                cell(r, row, "peak_fraction") if "peak_fraction" in row else "–",
            ]
            for row in gemms
        ],
    )
    if "fma_peak" in rows:
        peak = rows["fma_peak"]
        out += (
            f"\nThe machine's limit: `fma_peak` ({peak['model']}, benchmarks/native/fma_peak.c "
            "built with this machine's gcc) reached "
            f"{peak['gflops_per_s']['median']:.0f} GFLOP/s in these rounds; every rate above is "
            "also given as its share of the peak measured in the same round.\n"
        )
    else:
        out += (
            "\nThe CPU's FP32 peak was not measured in this run (gcc missing, or an older run).\n"
        )
    r0, r16 = rows["tower_r0"], rows["tower_r16"]
    share = ", ".join(f"{k} {100 * v:.0f} %" for k, v in list(r0["profiled_share"].items())[:3])
    share16 = ", ".join(f"{k} {100 * v:.0f} %" for k, v in list(r16["profiled_share"].items())[:3])
    out += (
        f"\n**Targets** (issue #19): the tower at r = 0 at ≥ 0.8× of the roofline — "
        f"{r0['roofline_fraction']['median']:.2f}× "
        f"({'met' if r0['roofline_fraction']['median'] >= 0.8 else 'missed'}); at r = 16 "
        f"≥ 0.7× — {r16['roofline_fraction']['median']:.2f}× "
        f"({'met' if r16['roofline_fraction']['median'] >= 0.7 else 'missed'}).\n\n"
        f"Where the time goes (one traced call, share of XLA op time): r = 0: {share}; r = 16: "
        f"{share16} (`ynn_fusion` are the dots with their fused epilogues, run by YNNPACK). "
        "The hand count of the tower's matmuls is "
        f"{r0['matmul_gflops'] / a['images']:.2f} GFLOPs per image at r = 0 against XLA's "
        f"{r0['xla_gflops'] / a['images']:.2f} for the whole compiled tower.\n\n"
        "What changed (issue #19). Profiling showed the attention, not the matmuls, as the gap: "
        "the einsums over [B, N, H, Dh] around `jax.nn.softmax` became one XLA fusion running at "
        "about 20 GFLOP/s, 30 % of the tower's time at r = 0. `clip.dot_product_attention` now "
        "puts heads first for two plain batched matmuls and divides by the softmax's sum after "
        "the value product (on [N, Dh] instead of [N, N]); the row `tower_r0_softmax_attention` "
        "is the old attention patched in, timed in the same rounds. At r = 16 everything "
        "outside the dots (layer norms, copies, and ToMe's scoring, sort, gathers and scatter) "
        f"is {100 * (1 - r16['profiled_share'].get('ynn_fusion', 0)):.0f} % of the traced op "
        "time, so ToMe's merge was left as it is.\n"
    )
    one = load_timed("profile_encoder_1thread")
    if one:
        n1 = rounds_of(one, one["rows"])
        out += (
            "\nThe framework comparison on one core (every contender pinned to one CPU; XLA and "
            "PyTorch then run one thread):\n\n" + measured(one, n1)
        )
        out += table(
            [
                "contender",
                "s / call",
                "GFLOP/s",
                "of the roofline",
                "of the core's FP32 peak",
                "speed vs transformers",
            ],
            [
                [
                    row["name"],
                    cell(one, row, "time_s", ".3f"),
                    cell(one, row, "gflops_per_s", ".0f"),
                    cell(one, row, "roofline_fraction") if "roofline_fraction" in row else "–",
                    cell(one, row, "peak_fraction") if "peak_fraction" in row else "–",
                    cell(one, row, "speed_vs_torch_tower_r0", suffix="×")
                    if "speed_vs_torch_tower_r0" in row
                    else "–",
                ]
                for row in one["rows"]
            ],
        )
    return out


def milliseconds(seconds: dict, digits: int = 2) -> str:
    """'median (min–max)' of a {median, min, max} dict of seconds, in ms."""
    ms = {k: seconds[k] * 1e3 for k in ("median", "min", "max")}
    return f"{ms['median']:.{digits}f} ({ms['min']:.{digits}f}–{ms['max']:.{digits}f})"


def program_memory(row: dict) -> str:
    """A compiled program's arguments + temporaries (XLA's memory analysis), in GiB."""
    memory = row["memory"]
    return mib((memory["argument_size_in_bytes"] + memory["temp_size_in_bytes"]) / 2**20)


def render_accelerator() -> str:
    r = load("accelerator_check")
    head = "## On a GPU: attention paths, encoder and train step (issue #31)\n\n"
    if r is None:
        return head + missing("accelerator_check", "bash benchmarks/accelerator_check.sh")
    env = r["environment"]
    out = head + (
        f"`bash benchmarks/accelerator_check.sh` on one {env['device_kind']} ({env['platform']}, "
        f"jax {env['jax']}, flax {env['flax']}, {env['host_cpus']} host CPUs); random weights at "
        "B/16's shapes. Times: median (min–max) of 10 timed calls after a warm-up. "
        f"{r.get('notes', '')}.\n\n"
    )
    out += (
        "Attention, each path against the float32 reference function and float64 NumPy (4 clips, "
        "12 heads of 64; vision: 197 tokens with ToMe's log-size bias; text: 77 tokens, causal). "
        "At JAX's default matmul precision an NVIDIA GPU multiplies float32 in TF32, so float32 is "
        "also shown at `jax.default_matmul_precision('highest')`; bfloat16 operands are compared "
        "with the float32 result.\n\n"
    )
    out += table(
        [
            "case",
            "path",
            "dtype",
            "matmul precision",
            "max abs diff vs reference",
            "max abs diff vs float64",
        ],
        [
            [
                row["case"],
                row["path"],
                row["dtype"],
                row.get("matmul_precision", "default"),
                f"{row['max_abs_vs_reference_f32']:.1e}" if "error" not in row else row["error"],
                f"{row['max_abs_vs_float64']:.1e}" if "error" not in row else "",
            ]
            for row in r["attention"]
        ],
    )
    encoder = [row for row in r["encoder"] if "error" not in row]
    if encoder:
        out += (
            f"\nThe vision tower on {encoder[0]['frames']} frames per call (compute and parameter "
            "storage in the row's dtype):\n\n"
        )
        out += table(
            [
                "ToMe r",
                "dtype",
                "attention",
                "ms / call",
                "frames / s",
                "compile s",
                "arguments + temporaries",
            ],  # fmt: skip
            [
                [
                    str(row["r"]),
                    row["dtype"],
                    row["attention"],
                    milliseconds(row["seconds"]),
                    f"{row['frames_per_s']:,.0f}",
                    f"{row['compile_s']:.1f}",
                    program_memory(row),
                ]
                for row in encoder
            ],
        )
    steps = [row for row in r["train_step"] if "error" not in row]
    if steps:
        first = steps[0]
        out += (
            f"\nALT's train step from uint8 video (`alt_jax.train.steps.make_train_step`: frozen "
            f"CLIP with ToMe r = {first['r']}, alignment, adapter, AdamW), {first['frames']} "
            "frames, attention `auto`, the backbone's compute and storage in the row's dtype "
            "(the head in float32):\n\n"
        )
        out += table(
            [
                "dtype",
                "batch",
                "ms / step",
                "clips / s",
                "per clip vs batch 1",
                "compile s",
                "arguments + temporaries",
            ],  # fmt: skip
            [
                [
                    row["dtype"],
                    str(row["batch"]),
                    milliseconds(row["seconds"]),
                    f"{row['clips_per_s']:.0f}",
                    f"{row['per_clip_vs_batch1']:.2f}×" if "per_clip_vs_batch1" in row else "–",
                    f"{row['compile_s']:.0f}",
                    program_memory(row),
                ]
                for row in steps
            ],
        )
    return out


def render_scan_compile() -> str:
    r = load("scan_compile")
    head = "## Layers unrolled or scanned: compile time (issue #31)\n\n"
    if r is None:
        return head + missing("scan_compile", "PYTHONPATH=. python benchmarks/scan_compile.py")
    a = r["args"]
    out = head + (
        f"`{r['command']}` ({r['machine']}): the {a['preset']} vision tower on {a['images']} "
        "frames, float32, random weights; compile seconds: median of "
        f"{a['repeats']} fresh compilations (caches cleared); run: median (min–max) of "
        f"{a['rounds']} calls. The scanned tower equals the unrolled one within "
        f"{r['max_abs_scanned_vs_unrolled']:.1e}. GFLOPs: XLA's count of the unrolled program "
        "(its count of a scan covers one layer, so none is given).\n\n"
    )
    out += table(
        ["layers", "ToMe r", "compile s", "run ms", "GFLOPs"],
        [
            [
                row["layers"],
                str(row["tome_r"]),
                f"{row['compile_s']:.1f}",
                milliseconds(row["run_s"], 0),
                f"{row['gflops']:.1f}" if row["gflops"] is not None else "–",
            ]
            for row in r["rows"]
        ],
    )
    out += (
        "\nA scan applies one traced layer to the same shapes at every step. With ToMe each layer "
        "sees fewer tokens (197 − l·r), so the merged tower cannot be scanned as it is: it would "
        "have to carry all 197 tokens through every layer with the merged ones masked, which is "
        "r = 0's work (the GFLOPs column). "
    )
    rows = {(row["layers"], row["tome_r"]): row for row in r["rows"]}
    plain, scan = rows.get(("unrolled", 0)), rows.get(("scanned", 0))
    merged = next((row for row in r["rows"] if row["tome_r"] > 0), None)
    if plain and scan and merged:
        out += (
            f"Where a scan is possible (r = 0) it compiles in {scan['compile_s']:.2f} s against "
            f"{plain['compile_s']:.2f} s unrolled: the layers are not what takes the compiler's "
            f"time; the merged tower's {merged['compile_s']:.1f} s is ToMe's per-layer "
            "bookkeeping (scores, sort, gathers, scatter), which a scan cannot share across "
            "layers of different sizes. The towers stay unrolled.\n"
        )
    step = r.get("train_step")
    if step:
        out += (
            f"\nThe whole train step (ALT-B/16 from uint8 video, ToMe r = {step['tome_r']}, "
            f"{step['clips']} clip(s) of {step['frames']} frames): trace and lowering "
            f"{step['lower_s']:.1f} s, compilation {step['compile_s']:.1f} s on this machine.\n"
        )
    return out


def render_inference() -> str:
    r = load_timed("inference")
    head = "## Inference against the peers (issue #11)\n\n"
    if r is None:
        return head + missing("inference", "PYTHONPATH=. python benchmarks/inference.py")
    a = r["args"]
    rows = by_name(r)
    n = rounds_of(r, r["rows"])
    out = (
        head
        + (
            f"{a['batch']} clips of {a['frames']} frames at {a['preset']} resolution per call, "
            f"C = {a['classes']} classes. Text towers are not timed for anyone: the class text "
            "embeddings are computed once per label set and given as inputs.\n\n"
        )
        + measured(r, n)
    )
    body = []
    for row in r["rows"]:
        what = f"{row['model']} ({row['framework']}"
        if row.get("dtype") == "bfloat16":
            what += ", CLIP in bfloat16"
        if row.get("xla_flags"):
            what += ", `ynn_fusion_type=`"
        body.append(
            [
                what + ")",
                f"{row['gflops_per_view']:.1f}",
                f"{row['gflops_per_view'] / 2:.1f}",
                f"{row['gflops_vs_xclip']:.2f}",
                cell(r, row, "time_s", ".2f"),
                cell(r, row, "speed_vs_xclip", suffix="×"),
                mib(row["peak_rss_mib"]),
            ]
        )
    out += table(
        [
            "contender",
            "GFLOPs / view",
            "GMACs / view",
            "FLOPs vs X-CLIP",
            f"s / call ({a['batch']} clips)",
            "speed vs X-CLIP",
            "peak RSS",
        ],
        body,
    )
    out += "\nWhat each timed call runs (per batch):\n\n"
    out += "\n".join(f"- {row['name']}: {row['timed']}." for row in r["rows"]) + "\n"
    t, alt = r["targets"], rows["alt"]
    speed = t["speed_ratio"]
    out += (
        f"\n**Targets** (ALT-B/16 at r = {alt['tome_r']} against X-CLIP-B/16, 8 frames): GFLOPs "
        f"per view ≤ {t['gflops_ratio_max']}× — {t['gflops_ratio']:.2f}×, "
        f"{'met' if t['gflops_ratio'] <= t['gflops_ratio_max'] else 'missed'}; clips/s "
        f"≥ {t['speed_ratio_min']:.0f}× — {speed['median']:.2f}× ({speed['min']:.2f}–"
        f"{speed['max']:.2f}), {'met' if speed['median'] >= t['speed_ratio_min'] else 'missed'}."
        "\n\n"
    )
    enc = rows.get("alt_encoder")
    if enc:
        share = enc["time_s"]["median"] / alt["time_s"]["median"]
        out += (
            f"ALT's frozen encoder alone (CLIP with ToMe) takes {100 * share:.0f} % of ALT's "
            f"time per call (medians) and {enc['gflops_per_view']:.1f} of its "
            f"{alt['gflops_per_view']:.1f} GFLOPs; alignment, adapter and logits take the rest.\n\n"
        )
    if "alt_eigen" in rows:
        e = rows["alt_eigen"]["speed_vs_alt"]
        out += (
            "The XLA flag `--xla_cpu_experimental_ynn_fusion_type=` (XLA's own dot kernels "
            "instead of YNNPACK) was timed in the same rounds as the default: "
            f"{e['median']:.2f}× ALT's default speed ({e['min']:.2f}–{e['max']:.2f}). An earlier "
            "claim of ~1.5× came from two separate runs; on another machine the same comparison "
            "crossed 1. The flag is experimental and CPU-only; the library does not set it.\n\n"
        )
    if "alt_bf16" in rows:
        b = rows["alt_bf16"]["speed_vs_alt"]
        isa = r["machine_info"].get("isa") or []
        out += (
            f"bfloat16 (the frozen CLIP computing in bfloat16, `config.backbone.dtype`): "
            f"{b['median']:.2f}× float32's speed ({b['min']:.2f}–{b['max']:.2f}) on this CPU "
            f"({', '.join(isa) or 'no AVX-512/AMX flags recorded'}). On TPU and recent GPUs "
            "bfloat16 is the native matmul type; this row says nothing about them.\n\n"
        )
    cfg = dict(rows["xclip"]["config"])
    vision = cfg.pop("vision")
    out += (
        "X-CLIP config used (`benchmarks/peers.py`, the shapes of microsoft/xclip-base-patch16 "
        "for B/16): vision "
        + ", ".join(f"{k} = {v}" for k, v in vision.items())
        + "; "
        + ", ".join(f"{k} = {v}" for k, v in cfg.items())
        + "; the text tower of CLIP-B (not timed).\n"
    )
    return out


def render_papers() -> str:
    inf, flops = load_timed("inference"), load("alt_flops")
    head = "## Beside the papers' figures (docs/method.md §8)\n\n"
    got = {}
    if inf:
        rows = by_name(inf)
        got["X-CLIP B/16, 8 f"] = rows["xclip"]["gflops_per_view"] / 2
        alt = rows["alt"]
        got[f"ALT-B/16 (ours, r = {alt['tome_r']})"] = alt["gflops_per_view"] / 2
    out = head + (
        "GFLOPs as the papers count them (a multiply-add is 1) beside ours measured as GMACs "
        "(XLA or FlopCounterMode FLOPs / 2), per 8-frame view unless stated. Top-1 is the "
        "papers' K400 figure; nothing here measures accuracy.\n\n"
    )
    body = []
    for system, backbone, top1, paper, _ in PAPERS:
        key = f"{system} {backbone}"
        value = f"{got[key]:.1f} (PyTorch, random weights)" if key in got else "–"
        body.append([system, backbone, top1, paper, value])
    for name, value in got.items():
        if name.startswith("ALT-B/16"):
            body.append([name, "B/16, 8 f", "–", "–", f"{value:.1f} (JAX)"])
    if flops:
        for row in flops["rows"]:
            if row["model"] == "ALT-L/14" and row["tome_r"] > 0:
                body.append(
                    [
                        f"ALT-L/14 (ours, r = {row['tome_r']})",
                        f"L/14, {row['frames']} f",
                        "–",
                        "–",
                        f"{row['gmacs_per_view']:.1f} (JAX)",
                    ]
                )
    out += table(
        ["system", "backbone, frames", "K400 top-1 (paper)", "paper GFLOPs", "measured GMACs"], body
    )
    if "X-CLIP B/16, 8 f" in got:
        x = got["X-CLIP B/16, 8 f"]
        out += (
            f"\nOur count of X-CLIP-B/16 at 8 frames is {x:.1f} GMACs per view against the "
            f"paper's 145 ({x / 145:.3f}×), and the hand count in `benchmarks/flops.py` "
            "(`xclip_flops_per_view`: vision tower with its message tokens, MIT, prompt "
            "generator over C = 400 classes) gives 144.18 as well. An earlier version of this "
            'table said 138.2 and called the gap "another tool": it was a counting error, '
            "`FlopCounterMode` counting 0 for PyTorch's fused CPU attention "
            "(`_scaled_dot_product_flash_attention_for_cpu`, forward and backward), now given "
            "torch's own formulas (tests/test_flops.py). ALT's own paper gives only the L/14 "
            "total over views; divided by 4 × 3 views it is 412 per view, beside our L/14 rows.\n"
        )
    return out


def render_train_peers() -> str:
    r = load_timed("train_step_peers")
    head = "## Training step against X-CLIP (issue #11)\n\n"
    if r is None:
        return head + missing(
            "train_step_peers", "PYTHONPATH=. python benchmarks/train_step_peers.py"
        )
    a = r["args"]
    n = rounds_of(r, r["rows"])
    out = (
        head
        + (
            f"{a['frames']} frames at {a['preset']} resolution, C = {a['classes']} classes, AdamW. "
            f"ALT: the training step of `alt_jax.train` from uint8 video (frozen CLIP with ToMe r = "
            f"{a['r']}; alignment + adapter trained). X-CLIP: fine-tuned end to end as its authors "
            "do (vision tower, MIT, prompt generator and projections; AdamW lr 8e-6, weight decay "
            "0.001), cross-entropy on its logits. X-CLIP runs at batch 2 (at batch 8 its activations "
            "need several GB more than this shared machine has to spare), so the comparison is per "
            "clip, within each round.\n\n"
        )
        + measured(r, n)
    )
    body = []
    for row in r["rows"]:
        body.append(
            [
                row["model"],
                str(row["batch"]),
                row["trained"],
                cell(r, row, "time_s", ".2f"),
                cell(r, row, "seconds_per_clip", ".2f"),
                cell(r, row, "speed_vs_xclip_per_clip", suffix="×"),
                f"{row['gflops_per_clip']:.0f}",
                mib(row["peak_rss_mib"]),
            ]
        )
    out += table(
        [
            "model",
            "batch",
            "trained",
            "step (s)",
            "s / clip",
            "speed vs X-CLIP (per clip)",
            "GFLOPs / clip (fwd + bwd)",
            "peak RSS",
        ],
        body,
    )
    rows = by_name(r)
    x = next(row for name, row in rows.items() if name.startswith("xclip"))
    alt = next(row for name, row in rows.items() if name.startswith("alt"))
    out += (
        f"\nPer clip, ALT's training step costs {alt['gflops_per_clip']:.0f} GFLOPs against "
        f"X-CLIP's {x['gflops_per_clip']:.0f} ({x['gflops_per_clip'] / alt['gflops_per_clip']:.1f}"
        "× fewer): the frozen tower needs no backward pass, and ToMe halves its forward. The "
        "X-CLIP row leaves out what its recipe also does every step: fine-tune the text tower on "
        f"all {a['classes']} class prompts (77 tokens each). That would add "
        f"{x['text_tower_gflops_per_step_excluded']:.0f} GFLOPs per step (forward + backward, "
        "FlopCounterMode, independent of the batch); ALT's class embeddings come from a frozen "
        "text tower, once.\n"
    )
    return out


def render_train_cache() -> str:
    r = load_timed("train_step")
    head = "## Training step: from video and from the frozen-feature cache (issue #6)\n\n"
    if r is None:
        return head + missing("train_step", "PYTHONPATH=. python benchmarks/train_step.py")
    a, rows = r["args"], r["rows"]
    named = [{"name": k, **v} for k, v in rows.items()]
    n = rounds_of(r, named)
    out = (
        head
        + (
            f"ALT-{a['preset']}, {a['frames']} frames, batch {a['batch']}, r = {a['r']}, "
            f"{a['classes']} classes, {a['entities']} entities; uint8 videos already decoded. "
            '"video" runs the frozen CLIP and the trainable head with its backward pass; "cache" '
            "runs the head on the encoder outputs that `--mode=extract_features` stores; "
            '"extract" is what extraction computes per batch and view (the frozen encoder).\n\n'
        )
        + measured(r, n)
    )
    out += table(
        ["input", "s / call", "vs video", "GFLOPs / call (XLA)", "peak RSS"],
        [
            [
                row["name"],
                cell(r, row, "time_s", ".2f"),
                cell(r, row, "speed_vs_video", suffix="×"),
                f"{row['gflops_per_step']:.1f}",
                mib(row["peak_rss_mib"]),
            ]
            for row in named
        ],
    )
    ext = rows["extract"]
    be = spread_of(r, r["break_even_epochs"], "break_even_epochs")
    kib = ext["bytes_per_view"] / 1024
    shapes = ", ".join(f"{k} {v}" for k, v in ext["record_shapes"].items() if v)
    out += (
        f"\nWhat the cache costs. Disk: {kib:.0f} KiB per clip and view ({shapes}, float32 "
        f"and int32, uncompressed .npz), so {a['views']} views of Kinetics-400's ~240k training "
        f"clips take {kib * a['views'] * 240e3 / 2**20:.0f} GiB. Time: extracting one view "
        f"costs about one epoch of the frozen encoder; with {a['views']} views "
        f"(`config.feature_train_views`; epoch e reads view e mod {a['views']}) the cache has "
        f"paid for its extraction after {be['median']:.1f} epochs ({be['min']:.1f}–"
        f"{be['max']:.1f}), per round {a['views']} · extract / (video − cache). Beyond that "
        f"epoch count it saves (video − cache) per step; but from epoch {a['views'] + 1} on, "
        "training sees augmentations it has seen before, which video training would not.\n"
    )
    return out


def render_scaling() -> str:
    r = load_timed("scaling")
    head = "## ALT scaling: frames, ToMe r and batch (issue #11)\n\n"
    if r is None:
        return head + missing("scaling", "PYTHONPATH=. python benchmarks/scaling.py")
    a = r["args"]
    n = rounds_of(r, r["rows"])
    out = (
        head
        + (
            f"ALT-{a['preset']}'s training step from uint8 video (as above), C = {a['classes']}; "
            "each configuration in its own process. GFLOPs: XLA's cost analysis of the whole step "
            "(frozen forward + head forward and backward).\n\n"
        )
        + measured(r, n)
    )
    rows = r["rows"]

    def line(row, first):
        return [
            first,
            cell(r, row, "time_s", ".2f"),
            cell(r, row, "time_vs_base", suffix="×"),
            f"{row['gflops_per_clip']:.0f}",
            mib(row["peak_rss_mib"]),
        ]

    base = f"8 f, r = {a['r']}, batch 1"
    header = ["", "step (s)", f"vs {base}", "GFLOPs / clip", "peak RSS"]
    frames = [row for row in rows if row["tome_r"] == a["r"] and row["batch"] == 1]
    out += f"Frames (r = {a['r']}, batch 1):\n\n" + table(
        ["frames", *header[1:]], [line(row, str(row["frames"])) for row in frames]
    )
    rs = [row for row in rows if row["frames"] == 8 and row["batch"] == 1]
    out += "\nToMe r (8 frames, batch 1):\n\n" + table(
        ["r", *header[1:]], [line(row, str(row["tome_r"])) for row in rs]
    )
    batches = [row for row in rows if row["frames"] == 8 and row["tome_r"] == a["r"]]
    out += f"\nBatch (8 frames, r = {a['r']}):\n\n" + table(
        ["batch", "step (s)", "s / clip", "per clip vs batch 1", "peak RSS"],
        [
            [
                str(row["batch"]),
                cell(r, row, "time_s", ".2f"),
                cell(r, row, "seconds_per_clip", ".2f"),
                cell(r, row, "per_clip_vs_batch_1", suffix="×"),
                mib(row["peak_rss_mib"]),
            ]
            for row in batches
        ],
    )
    b8 = next((row for row in batches if row["batch"] == 8), None)
    if b8:
        v = b8["per_clip_vs_batch_1"]
        out += (
            f"\n**Target** (issue #19): seconds per clip at batch 8 ≤ 1.1× batch 1 — "
            f"{v['median']:.2f}× ({v['min']:.2f}–{v['max']:.2f}), "
            f"{'met' if v['median'] <= 1.1 else 'missed'}. Peak memory is the training "
            "process's, at each batch size. The default training batch for a CPU run can be as "
            "large as memory allows: a larger batch does not cost more per clip here.\n"
        )
    f8 = next((row for row in frames if row["frames"] == 8), None)
    f32 = next((row for row in frames if row["frames"] == 32), None)
    if f8 and f32:
        out += (
            f"\nFrom 8 to 32 frames the step's GFLOPs grow "
            f"{f32['gflops_per_clip'] / f8['gflops_per_clip']:.2f}× and its time "
            f"{f32['time_vs_base']['median']:.2f}× (frames are encoded independently; the "
            "adapter's temporal layers are a small part).\n"
        )
    return out


def render_input() -> str:
    r = load_timed("input_pipeline")
    head = "## Input pipeline against the train step (issues #4 and #11)\n\n"
    if r is None:
        return head + missing("input_pipeline", "PYTHONPATH=. python benchmarks/bench_input.py")
    a = r["args"]
    n = rounds_of(r, r["rows"], "clips_per_s")
    out = (
        head
        + (
            "Training clips per second out of `make_train_iterator` (segment sampling of 8 frames, "
            f"random resized crop to 224×224 + flip, uint8 batches of {a['batch_size']}, from H.264 "
            "mp4, PyAV, one decode thread per clip; 64 synthetic 320×240, 30-frame mp4s written by "
            f"the tool itself; a call pulls {a['num_batches']} batches, worker start-up not timed) "
            "against what ALT-B/16's training step from video consumes (batch 8, r = 16), timed in "
            "the same rounds.\n\n"
        )
        + measured(r, n)
    )
    out += table(
        ["contender", "clips/s", "pipeline / consumer"],
        [
            [
                row["name"].replace("_", " "),
                cell(r, row, "clips_per_s", ".2f"),
                cell(r, row, "vs_consumer", ".1f", "×") if "vs_consumer" in row else "–",
            ]
            for row in r["rows"]
        ],
    )
    out += (
        "\nTraining here is not input-bound while the pipeline / consumer ratio is above 1. "
        "Real Kinetics videos (longer, 340p–720p) decode slower per clip; size `workers` so "
        "that workers × the per-core rate exceeds the accelerator's clips/s.\n"
    )
    return out


def render_tome() -> str:
    r = load_timed("tome_speed")
    head = "## Token merging in the vision tower (issue #3)\n\n"
    if r is None:
        return head + missing("tome_speed", "PYTHONPATH=. python benchmarks/tome_speed.py")
    a = r["args"]
    rows = [{**row, "name": f"r{row['r']}"} for row in r["rows"]]
    n = rounds_of(r, rows)
    out = (
        head
        + (
            f"ViT-{a['preset']} at 224, {a['batch']} images per call, the dense image encoder "
            "(`encode_image_regions`, jitted), each r in its own process. GFLOPs from XLA's cost "
            "analysis of the compiled program, per image.\n\n"
        )
        + measured(r, n)
    )
    from benchmarks.profile_encoder import tower_matmul_flops

    out += table(
        [
            "r",
            "tokens after last layer",
            "GFLOPs / image (XLA)",
            "matmul GFLOPs (by hand)",
            "vs r = 0",
            "s / call",
            "speed-up",
        ],
        [
            [
                str(row["r"]),
                str(row["tokens_out"]),
                f"{row['gflops_per_image']:.2f}",
                f"{tower_matmul_flops(a['preset'], row['r']) / 1e9:.2f}",
                f"{row['gflops_vs_r0']:.2f}",
                cell(r, row, "time_s", ".3f"),
                cell(r, row, "speedup", suffix="×"),
            ]
            for row in rows
        ],
    )
    r16 = next((row for row in rows if row["r"] == 16), None)
    out += (
        "\nThe hand count (`benchmarks/profile_encoder.py:tower_matmul_flops`, the tower's "
        "matmuls without ToMe's own) stays within 1 % of XLA's count of the whole compiled "
        "encoder (which adds element-wise ops and the projection). "
        'XLA counts a multiply-add as two FLOPs: 35.4 GFLOPs at r = 0 is the 17.7 "GFLOPs" '
        "(multiply-adds) usually quoted for ViT-B/16. At r = 16 the last layer is capped "
        "((21 − 1) // 2 = 10 merges) and 11 tokens (the class token and 10 regions) leave the "
        "tower.\n\n"
    )
    if r16:
        s = r16["speedup"]
        out += (
            "**r = 16** is the smallest r in the table that meets the goal of GFLOPs at least "
            "40 % below r = 0 (r = 12 saves 38 %); in these rounds it ran "
            f"{s['median']:.2f}× as fast as r = 0 ({s['min']:.2f}–{s['max']:.2f}; target "
            "≥ 1.6×). It was the ALT-B/16 configs' default until the schedule table below "
            "(issue #31) chose the ramp `14,-1.0`.\n"
        )
    return out


def render_alt_flops() -> str:
    r = load("alt_flops")
    head = "## ALT model cost per view (issue #5)\n\n"
    if r is None:
        return head + missing("alt_flops", "PYTHONPATH=. python benchmarks/alt_flops.py")
    first = r["rows"][0]
    out = head + (
        f"One {first['frames']}-frame view at 224, K = {first['num_entities']} entities, "
        f"C = {first['num_classes']} classes, abstract weights (FLOPs depend on shapes only, so "
        "no timing and no machine); XLA's cost analysis of the jitted evaluation forward, and of "
        "the frozen backbone (CLIP with ToMe) compiled apart.\n\n"
        "    PYTHONPATH=. python benchmarks/alt_flops.py "
        "--runs=B/16:0,B/16:R,L/14:0,L/14:8,L/14:R "
        "--schedules='B/16=14,-1.0;B/16=18;B/16=12,-1.0;B/16=16,-0.5'\n\n"
        "Results: `benchmarks/results/alt_flops.json`. *r*: a constant r, or a schedule as "
        "`model.tome_schedule` takes it (`14,-1.0`: ToMe's ramp from 2r merges in the first layer "
        "down to 0). *vs X-CLIP-B/16*: GFLOPs against X-CLIP-B/16's per view at the same frames "
        "(XLA's count of it in `benchmarks/results/inference.json`).\n\n"
    )
    inference = load("inference")
    xclip = None
    if inference is not None:
        xclip = next((row["gflops_per_view"] for row in inference["rows"]
                      if row.get("name") == "xclip"), None)  # fmt: skip
    out += table(
        [
            "model",
            "r",
            "regions / frame",
            "vs X-CLIP-B/16",
            "GMACs / view",
            "backbone GFLOPs (XLA)",
            "head GFLOPs (XLA)",
            "trainable params",
            "frozen CLIP params",
        ],
        [
            [
                f"{row['model']}, {row['frames']} f",
                str(row["tome_r"]),
                str(row["regions_per_frame"]),
                f"{row['gflops_per_view'] / xclip:.3f}×"
                if xclip and row["model"] == "ALT-B/16"
                else "–",
                f"{row['gmacs_per_view']:.1f}",
                f"{row['backbone_gflops_per_view']:.1f}",
                f"{row['head_gflops_per_view']:.1f}",
                f"{row['params_trainable'] / 1e6:.2f} M",
                f"{row['params_frozen_clip'] / 1e6:.2f} M",
            ]
            for row in r["rows"]
        ],
    )
    out += (
        "\nAt r = 16 on L/14 the per-layer cap leaves a single region per frame, so the L/14 "
        "configs use r = 8.\n"
    )
    return out


def render_tome_schedules() -> str:
    r = load("tome_schedules")
    head = "## ToMe schedules: accuracy against FLOPs (issue #31)\n\n"
    if r is None:
        return head + missing("tome_schedules", "PYTHONPATH=. python benchmarks/tome_schedules.py")
    n = r["num_videos"]
    out = head + (
        "Each schedule is written for ALT-B/16 (8 frames at 224 px): its GFLOPs per view are XLA's "
        "count of that model (`benchmarks/alt_flops.py`), against X-CLIP-B/16's "
        f"{r['xclip_b16_gflops_per_view']:.1f}. No B/16 weights can be had here, so its accuracy "
        f"is measured with the bundled pretrained SynthAct CLIP ({r['clip_layers']} layers, "
        f"{r['clip_patches']} patches per frame at its native size), the schedule carried over "
        "by its shape: after each of the small CLIP's layers the same fraction of patches is left "
        "as after the matching B/16 layer (ToMe's cap of half the tokens per layer applies). ALT "
        f"trained fully supervised on SynthAct ({r['passes']:g} passes over the {n['train']:,} "
        "training videos, frozen features extracted once per schedule), top-1 % on the "
        f"{n['val']} seen-class val videos and zero-shot on the {n['unseen_val']} unseen "
        "compositions' videos; mean ± std over seeds "
        f"{', '.join(map(str, r['seeds']))} (min–max). {r['machine']}.\n\n"
        "    PYTHONPATH=. python benchmarks/tome_schedules.py\n\n"
        "Results: `benchmarks/results/tome_schedules.json`.\n\n"
    )
    rows = sorted(r["rows"], key=lambda row: -row["vs_xclip_b16"])
    out += table(
        [
            "schedule (B/16)",
            "B/16 regions / frame",
            "B/16 GFLOPs / view",
            "vs X-CLIP-B/16",
            "carried schedule",
            "regions / frame (of 49)",
            "top-1 seen",
            "zero-shot unseen",
        ],
        [
            [
                row["schedule"],
                str(row["b16_regions_per_frame"]),
                f"{row['b16_gflops_per_view']:.1f}",
                f"{row['vs_xclip_b16']:.3f}×",
                ", ".join(map(str, row["carried_schedule"])),
                str(row["carried_regions_per_frame"]),
                f"{mean_std(row['supervised'])} ({row['supervised']['min']:.1f}–"
                f"{row['supervised']['max']:.1f})",
                mean_std(row["zeroshot"]),
            ]
            for row in rows
        ],
    )
    pick = chosen_schedule(r)
    if pick is not None:
        by_text = {row["schedule"]: row for row in r["rows"]}
        top1 = pick["supervised"]["mean"]
        against = []
        for ref, label in (("16", "r = 16"), ("0", "no merging (r = 0)")):
            if ref in by_text:
                d = top1 - by_text[ref]["supervised"]["mean"]
                against.append(f"{abs(d):.1f} points {'below' if d < 0 else 'above'} {label}")
        out += (
            f"\n**Default schedule of the ALT-B/16 configs: `{pick['schedule']}`** "
            f"(`configs_lib.BACKBONES`): of the schedules at or below {MAX_VS_XCLIP}× "
            f"X-CLIP-B/16's GFLOPs per view it loses the least top-1 on this table "
            f"({pick['vs_xclip_b16']:.3f}×, {pick['b16_regions_per_frame']} regions per frame; "
            f"top-1 {top1:.1f}: {', '.join(against)}). The accuracy is a proxy: the "
            "schedules' shapes on a small pretrained CLIP, not B/16 weights.\n"
        )
    return out


MAX_VS_XCLIP = 0.45  # the paper's "55 % fewer FLOPs" than X-CLIP-B/16


def chosen_schedule(result: dict) -> dict | None:
    """The row of the schedule at or below MAX_VS_XCLIP with the best mean seen top-1."""
    within = [row for row in result["rows"] if row["vs_xclip_b16"] <= MAX_VS_XCLIP]
    return max(within, key=lambda row: row["supervised"]["mean"], default=None)


def render_victr() -> str:
    r = load_timed("victr_vs_alt")
    head = "## VicTR beside ALT (issue #10)\n\n"
    if r is None:
        return head + missing("victr_vs_alt", "PYTHONPATH=. python benchmarks/victr_vs_alt.py")
    first = r["rows"][0]
    rows = [{"name": row["model"], **row} for row in r["rows"]]
    n = rounds_of(r, rows)
    out = (
        head
        + (
            f"B/16, {first['frames']} frames, r = {first['tome_r']}, {first['num_classes']} classes, "
            f"{first['num_corpus_texts']} corpus texts (ALT's entities, VicTR's auxiliary texts), one "
            "view, batch 1, random weights, each model in its own process.\n\n"
        )
        + measured(r, n)
    )
    out += table(
        [
            "model",
            "GFLOPs / view (XLA)",
            "GMACs / view",
            "head GFLOPs",
            "trainable",
            "frozen",
            "s / clip",
            "speed vs ALT",
        ],
        [
            [
                row["model"],
                f"{row['gflops_per_view']:.1f}",
                f"{row['gmacs_per_view']:.1f}",
                f"{row['head_gflops_per_view']:.1f}",
                f"{row['params_trainable'] / 1e6:.2f} M",
                f"{row['params_frozen'] / 1e6:.2f} M",
                cell(r, row, "time_s", ".3f"),
                cell(r, row, "speed_vs_alt", suffix="×"),
            ]
            for row in rows
        ],
    )
    out += (
        f"\nVicTR's head grows with classes + auxiliary texts (it carries 1 + "
        f"{first['num_classes']} + {first['num_corpus_texts']} tokens per frame), ALT's with the "
        "regions per frame (10 at r = 16).\n"
    )
    return out


def render_demo_accuracy() -> str:
    r = load("demo")
    head = "## The demo: accuracy and alignment over seeds (issues #6, #10, #25, #26)\n\n"
    if r is None or "runs" not in r:
        return head + missing("demo", "python benchmarks/demo_runs.py")
    out = head + (
        f"`{r['command']}` ({r['machine']}). {r['protocol']}. Chance 12.5 %. Grounding: the "
        "share of object patches whose region's entity names their object (alt_jax/grounding.py); "
        "most used: the largest share of regions one entity takes, against the ideal (every "
        "labelled patch given the entity naming it).\n\n"
    )
    rows = []
    for run in r["runs"].values():
        g = run.get("per_object") or {}
        rows.append(
            [
                str(run["r"]),
                str(run["seed"]),
                f"{run['top1']:.1f}",
                f"{run['top5']:.1f}",
                "–" if run["grounding"] is None else f"{run['grounding']:.1f}",
                ", ".join(f"{k} {100 * v:.0f}" for k, v in g.items()) or "–",
                "–"
                if run["most_used_share"] is None
                else f"{run['most_used_share']:.1f} ({run['top_entities'][0][0]})",
                "–"
                if run["ideal_most_used_share"] is None
                else f"{run['ideal_most_used_share']:.1f}",
            ]
        )
    out += table(
        ["ToMe r", "seed", "top-1 %", "top-5 %", "grounding %", "per object %", "most used %",
         "ideal %"],
        rows,
    )  # fmt: skip
    variant = load("demo_gate0")
    if variant is not None:
        out += (
            f"\nThe same runs with both gates starting at 0 (`{variant['command']}`, "
            f"{variant['machine']}):\n\n"
        )
        out += table(
            ["ToMe r", "seed", "top-1 %", "top-5 %", "grounding %"],
            [
                [
                    str(run["r"]),
                    str(run["seed"]),
                    f"{run['top1']:.1f}",
                    f"{run['top5']:.1f}",
                    "–" if run["grounding"] is None else f"{run['grounding']:.1f}",
                ]
                for run in variant["runs"].values()
            ],
        )
    if r.get("history"):
        out += (
            "\nEarlier figures, read off the commands' output by hand when they were measured:\n\n"
        )
        out += table(
            ["head", "CLIP", "top-1", "top-5"],
            [
                [
                    f"{a['head']} (`{a['config']}`)",
                    a.get("clip", "random weights"),
                    f"{a['top1']:.1f} %",
                    f"{a['top5']:.1f} %",
                ]
                for a in r["history"]
            ],
        )
    return out


SYNTHACT_ROWS = {
    "frame_average_clip": "frame-average CLIP (no training)",
    "alt": "ALT",
    "victr": "VicTR",
    "alt_learned_queries": "ALT, learned queries (no entities)",
    "alt_global_adapter": "ALT, first (global) adapter",
    "alt_no_region_position": "ALT, ordered adapter without region positions",
    "alt_no_temporal_order": "ALT, ordered adapter without temporal order",
}


def synthact_table(results: dict) -> str:
    """The table of `results` in markdown: one row per model, mean ± std over seeds."""
    cols = results["columns"]
    titles = {"supervised": "supervised (seen)", "zeroshot": "zero-shot (unseen)"}
    header = ["model", *(titles.get(c, c.replace("shot", "-shot")) for c in cols)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, cells in results["rows"].items():
        values = []
        for col in cols:
            cell = cells.get(col)
            if cell is None:
                values.append("not run")
            elif len(cell["runs"]) == 1:
                values.append(f"{cell['mean']:.1f}")
            else:
                values.append(f"{cell['mean']:.1f} ± {cell['std']:.1f}")
        lines.append("| " + " | ".join([SYNTHACT_ROWS.get(row, row), *values]) + " |")
    return "\n".join(lines)


def synthact_paired(results: dict, a: str = "alt", b: str = "alt_learned_queries") -> str:
    """Per column, the paired difference a − b over seeds (same seed: same initialisation key,
    data order and K-shot draw), mean ± std and each seed's value, in points."""
    runs = {(r["model"], r["shots"], r["seed"]): r for r in results["runs"]}
    header, cells = [], []
    for col in results["columns"]:
        shots = 0 if col in ("supervised", "zeroshot") else int(col.removesuffix("shot"))
        key = "unseen_top1" if col == "zeroshot" else "seen_val_top1"
        seeds = sorted({s for (m, k, s) in runs if m == a and k == shots})
        diffs = [
            100 * (runs[(a, shots, s)][key] - runs[(b, shots, s)][key])
            for s in seeds
            if (b, shots, s) in runs
        ]
        if not diffs:
            continue
        header.append(col.replace("shot", "-shot") if shots else col)
        mean, std = statistics.fmean(diffs), statistics.pstdev(diffs)
        cells.append(f"{mean:+.1f} ± {std:.1f} ({', '.join(f'{d:+.1f}' for d in diffs)})")
    if not cells:
        return ""
    return table(["ALT − learned queries", *header], [["points, per seed", *cells]])


def synthact_ablations(results: dict) -> str:
    """ALT's top-1 with its aligned entities replaced at evaluation, in every column measured."""
    ablations = results.get("entity_ablations") or {}
    if not ablations or "alt" not in results["rows"]:
        return ""
    measured = set().union(*(cols.keys() for cols in ablations.values()))
    cols = [c for c in results["columns"] if c in measured]
    rows = [["ALT", *(mean_std(results["rows"]["alt"][c]) for c in cols)]]
    for kind, label in ENTITY_ABLATIONS.items():
        if kind in ablations:
            rows.append([f"ALT, entities {label}", *(mean_std(ablations[kind][c]) for c in cols)])
    names = {"supervised": "supervised (seen)", "zeroshot": "zero-shot (unseen)"}
    return table(["model", *(names.get(c, c.replace("shot", "-shot")) for c in cols)], rows)


def render_synthact() -> str:
    r = load("synthact")
    head = "## SynthAct: supervised, few-shot and zero-shot accuracy with the small CLIP (issue #12)\n\n"
    if r is None:
        return head + missing("synthact", "python benchmarks/synthact.py --readme")
    wall = [[k.replace("_", " "), f"{v:.0f}"] for k, v in r["wall_time_s"].items()]
    for i, later in enumerate(r.get("wall_time_s_later_runs", []), 1):
        rows = [k.removeprefix("train_and_eval_") for k in later if k.startswith("train_and_eval")]
        label = ", ".join(rows) or "no training"
        wall.append([f"later call {i} ({label}, features reused): total", f"{later['total']:.0f}"])
    out = head + (
        f"`python benchmarks/synthact.py --readme` (size {r['size']}; the synthclip CLIP, weights' "
        f"sha256 {r['clip_sha256'][:16]}; {r['machine']}). Top-1 %, mean ± std over the "
        "seeds; the frame-average CLIP has no training, so it is one number. The data and "
        "protocol are in the README's SynthAct section, what the table says in "
        "docs/experiments.md.\n\n"
    )
    out += synthact_table(r) + "\n"
    paired = synthact_paired(r)
    if paired:
        out += "\nPaired by seed:\n\n" + paired
    ablated = synthact_ablations(r)
    if ablated:
        out += (
            "\nALT with its aligned entities replaced at evaluation (the same trained models; "
            "one entity for every region, shuffled within frames, random):\n\n" + ablated
        )
    # Variants of the ALT row on the same data, features and seeds (benchmarks/synthact.py
    # --rows=alt --reuse with one change).
    variants = {
        "synthact_gate0": lambda v: (
            f"ALT, gates at {v['protocol']['gate_init']:g}",
            "Where the gates g and g_e start",
            f"--gate_init={v['protocol']['gate_init']:g}",
        ),
        "synthact_zero_output": lambda v: (
            "ALT, W_o = 0 at init (`adapter.zero_output`)",
            "The adapter's output projection W_o at zero (z = 0 at step 0, gates at 1)",
            "--set=model.adapter.zero_output=True",
        ),
        "synthact_probe": lambda v: (
            "ALT with the appearance probe (`model.probe`)",
            "The closed-form appearance probe, fitted on each run's training clips (the few-shot"
            " runs' own shots)",
            "--set=model.probe.enabled=True",
        ),
    }
    for name, describe in variants.items():
        variant = load(name)
        if variant is None or "alt" not in variant["rows"]:
            continue
        label, title, flag = describe(variant)
        both = {
            "columns": r["columns"],
            "rows": {
                f"ALT, gates at {r['protocol'].get('gate_init', 1.0):g} (above)": r["rows"]["alt"],
                label: variant["rows"]["alt"],
            },
        }
        out += (
            f"\n{title} (`python benchmarks/synthact.py --rows=alt --reuse {flag} "
            f"--out=benchmarks/results/{name}.json`, "
            f"{variant['machine']}; same data, features and seeds):\n\n"
            + synthact_table(both)
            + "\n"
        )
    out += "\nWall time of each part:\n\n" + table(["part", "seconds"], wall)
    return out


ABLATION_ROWS = {
    "global": "first adapter (`kind=global`: all T·M regions, no position, mean readout)",
    "ordered": "ordered adapter (default)",
    "ordered_no_region_position": "ordered, no region position (`position=none`)",
    "ordered_no_temporal_order": "ordered, no temporal order (no P, mean readout, conv 1)",
    "ordered_no_temporal_centring": "ordered, no temporal centring",
    "ordered_centred": "ordered, change tokens only (`temporal_input=centred`)",
    "ordered_raw": "ordered, raw frame summaries (`temporal_input=raw`)",
    "ordered_learned_queries": "ordered, learned queries instead of entities",
    "ordered_no_entity_readout": "ordered, no entity readout",
    "ordered_free_w_r": "ordered, free W_r (not anchored)",
}


def render_adapter_ablation() -> str:
    r = load("adapter_ablation")
    head = "## The video adapter on the demo data: ablation (issue #16)\n\n"
    if r is None:
        return head + missing("adapter_ablation", "python benchmarks/adapter_ablation.py")
    rs = sorted(r["regions_per_frame"], key=int)
    labels = dict(ABLATION_ROWS)
    if "ordered_no_temporal_centring" in r["variants"]:  # measured before issue #26
        head += (
            "*Measured on 2026-12-02, before the adapter's redesign (issue #26): its "
            '"ordered (default)" row had temporally centred frame summaries and positions on '
            "the queries, no entity readout and a free W_r. Not rerun; the sanity ladder's "
            "directions dataset (above) is this data with today's defaults.*\n\n"
        )
        labels["ordered"] = "ordered adapter (the default then)"
    out = head + (
        f"`{r['command']}` ({r['machine']}"
        + (f"; {loads(r)}" if "load_average_start" in r else "")
        + f"). {r['protocol']['config']}; the frozen "
        "encoder's features cached once per r, every variant trained on them with the trainer's "
        f"steps; {r['protocol']['metric']}, seeds {r['protocol']['seeds']}. Chance 12.5 %.\n\n"
    )
    header = ["adapter"] + [f"r = {k} ({r['regions_per_frame'][k]} regions)" for k in rs]
    rows = []
    for name, cells in r["rows"].items():
        row = [labels.get(name, name)]
        for k in rs:
            c = cells.get(k)
            row.append(
                "not run"
                if c is None
                else f"{c['mean']:.1f} ± {c['std']:.1f} ({c['min']:.1f}–{c['max']:.1f})"
            )
        rows.append(row)
    return out + table(header, rows)


LADDER_COLUMNS = {
    "zero_shot": "zero-shot",
    "probe_class_tokens": "probe: class tokens",
    "probe_region_tokens": "probe: regions in place",
    "probe_pooled_regions": "probe: class + mean region",
    "linear_head": "linear head on class tokens, trained as ALT",
    "alt": "ALT",
    "alt_global_adapter": "ALT, global adapter",
    "alt_learned_queries": "ALT, learned queries",
    "victr": "VicTR",
}
ENTITY_ABLATIONS = {"constant": "one entity", "shuffle": "shuffled", "random": "random"}


def mean_std(c: dict) -> str:
    """'mean ± std' of a summary (one run: the value alone)."""
    return f"{c['mean']:.1f}" if len(c["runs"]) == 1 else f"{c['mean']:.1f} ± {c['std']:.1f}"


def seed_mean(values: list[dict], key: str) -> str:
    """The mean over seeds of a grounding summary field, in %."""
    numbers = [v[key] for v in values if v.get(key) is not None]
    if not numbers:
        return "–"
    mean = 100 * sum(numbers) / len(numbers)
    if len(numbers) == 1:
        return f"{mean:.1f}"
    spread = 100 * statistics.pstdev(numbers)
    return f"{mean:.1f} ± {spread:.1f}"


def differing_words(errors: dict[str, int]) -> dict[str, int]:
    """Confusions ("true → predicted": count) summed by the words in which the two class
    names differ ("circle / square"), most frequent first."""
    out: dict[str, int] = {}
    for pair, count in errors.items():
        true, predicted = (set(name.split()) for name in pair.split(" → "))
        words = " / ".join(sorted(true ^ predicted))
        out[words] = out.get(words, 0) + count
    return dict(sorted(out.items(), key=lambda item: -item[1]))


def render_ladder(name: str = "ladder") -> str:
    r = load(name)
    head = "## The sanity ladder on the capability datasets (issues #25, #26)\n\n"
    if r is None:
        return head + missing(name, "python benchmarks/ladder.py")
    p = r["protocol"]
    out = head + (
        f"`{r['command']}` ({r['machine']}; {loads(r)}). {p['config']}, ToMe r = {p['tome_r']}; "
        f"{p['metric']}, seeds {p['seeds']}; chance 12.5 %. Each dataset has 8 classes of 24 "
        "training and 8 validation videos (`tools/make_synthetic.py --task`); the probes are "
        "ridge regressions on the frozen features (λ by 4-fold cross-validation): what a linear "
        "head reaches on the same inputs; the *linear head trained as ALT* has the class-token "
        "probe's inputs and ALT's classifier, optimizer and steps (v = b + W·[f_1 … f_T], W = 0 "
        "at init): what a linear head reaches with ALT's budget.\n\n"
    )
    tasks = r["tasks"]
    cols = [c for c in LADDER_COLUMNS if any(c in t["rows"] for t in tasks.values())]
    rows = []
    for task, t in tasks.items():
        rows.append([task, *(mean_std(t["rows"][c]) if c in t["rows"] else "–" for c in cols)])
    out += table(["dataset", *(LADDER_COLUMNS[c] for c in cols)], rows)
    confused = [
        (task, t["errors"]["alt"]) for task, t in tasks.items() if "alt" in t.get("errors", {})
    ]
    if confused:
        out += (
            f"\nALT's errors on the validation videos, summed over seeds {p['seeds']}: by the "
            "words in which the true and the predicted class names differ, and the four most "
            "frequent confusions (true class → predicted class: count).\n\n"
        )
        out += table(
            ["dataset", "errors", "by the words the two class names differ in", "most frequent"],
            [
                [
                    task,
                    f"{sum(e.values())} of {len(p['seeds']) * 64}",
                    "; ".join(f"{words}: {n}" for words, n in differing_words(e).items()) or "–",
                    "; ".join(f"{pair}: {n}" for pair, n in list(e.items())[:4]) or "–",
                ]
                for task, e in confused
            ],
        )
    ablated = [
        (task, t["ablations"]["alt"]) for task, t in tasks.items() if "alt" in t["ablations"]
    ]
    if ablated:
        out += (
            "\nALT with its aligned entities replaced at evaluation (the same trained models): "
            "every region of every video given the batch's most used entity, the entities "
            "shuffled among a frame's regions, or drawn at random.\n\n"
        )
        out += table(
            ["dataset", "ALT", *(f"ALT, {v}" for v in ENTITY_ABLATIONS.values())],
            [
                [
                    task,
                    mean_std(tasks[task]["rows"]["alt"]),
                    *(mean_std(a[k]) for k in ENTITY_ABLATIONS),
                ]
                for task, a in ablated
            ],
        )
    return out


def render_grounding(name: str = "ladder") -> str:
    r = load(name)
    head = "## Alignment quality: does a region's entity name what is there? (issue #25)\n\n"
    if r is None:
        return head + missing(name, "python benchmarks/ladder.py")
    out = head + (
        "From the ladder's runs (above), on the validation videos' object masks "
        "(alt_jax/grounding.py): *grounding* is the share of object patches whose region's "
        'entity names their object ("red", "circle" or "red circle" for a red circle); '
        "*background* the share of background patches given their background's scene entity, "
        "and *background → object* those given an entity naming an object; *most used* is the "
        "largest share of regions one entity takes, against the *ideal*: the same share when "
        "every labelled patch takes the entity naming it (a background kind drawn for 41 % of "
        "the clips takes a third of all patches). Mean ± std over seeds, in %.\n\n"
    )
    rows = []
    for task, t in r["tasks"].items():
        for model, g in t["grounding"].items():
            for when in ("untrained", "trained"):
                v = g[when]
                tops = [s["top_entities"][0][0] for s in v]
                rows.append(
                    [
                        task,
                        f"{LADDER_COLUMNS.get(model, model)}, {when}",
                        seed_mean(v, "grounding"),
                        seed_mean(v, "background_grounding"),
                        seed_mean(v, "background_object_entity"),
                        f"{seed_mean(v, 'most_used_share')} ({max(set(tops), key=tops.count)})",
                        seed_mean(v, "ideal_most_used_share"),
                    ]
                )
    return out + table(
        [
            "dataset",
            "model",
            "grounding",
            "background",
            "background → object",
            "most used",
            "ideal",
        ],
        rows,
    )


GROUNDING_FEATURES = {
    "tokens": "CLIP's tokens",
    "maskclip": "MaskCLIP",
    "sclip": "SCLIP",
    "clearclip": "ClearCLIP",
}


def render_untrained_grounding() -> str:
    r = load("grounding")
    head = "## Untrained alignment: entity text forms × region features (issue #25)\n\n"
    if r is None:
        return head + missing("grounding", "python benchmarks/grounding.py")
    p = r["protocol"]
    out = head + (
        f"`{r['command']}` ({r['machine']}; {loads(r)}). {p['data']}; {p['alignment']}. "
        "Alignment quality as in the ladder's section below (grounding: object patches whose "
        "region's entity names their object; background: background patches given their "
        "scene's entity). Templates: one is "
        f"{', '.join(repr(t) for t in p['templates']['one'])}; five are "
        f"{', '.join(repr(t) for t in p['templates']['five'])}. *old* is the first synthclip "
        "(CLIP's contrastive loss only), *shipped* the one in alt_jax/assets/synthclip (with "
        "the dense patch-text term). *Probe*: ridge regression from the same patch tokens to "
        "the patch's label, the ceiling of what the patch features hold, text or no text.\n\n"
    )
    for name, c in r["clips"].items():
        forms = list(next(iter(c["alignment"].values())))
        rows = []
        for features, by_form in c["alignment"].items():
            for form in forms:
                g = by_form[form]
                bg = g.get("background_grounding")
                rows.append(
                    [
                        GROUNDING_FEATURES.get(features, features),
                        form,
                        f"{100 * g['grounding']:.1f}",
                        "–" if bg is None else f"{100 * bg:.1f}",
                        f"{100 * g['most_used_share']:.1f} ({g['top_entities'][0][0]})",
                    ]
                )
        out += (
            f"CLIP *{name}* (sha256 {c['sha256']}); probe on the object patches: "
            f"{100 * c['patch_probe']:.1f} %.\n\n"
        )
        out += table(
            ["region features", "entity text", "grounding %", "background %", "most used %"],
            rows,
        )
        out += "\n"
    return out


def render_budget_heads() -> str:
    r = load("budget_heads")
    head = "## Linear heads with the demo's budget (issue #26)\n\n"
    if r is None:
        return head + missing("budget_heads", "PYTHONPATH=. python benchmarks/budget_heads.py")
    task = r["task"]
    ladder = load("ladder")
    context = ""
    if ladder is not None and task in ladder["tasks"]:
        rows = ladder["tasks"][task]["rows"]
        probe, alt = rows["probe_class_tokens"], rows["alt"]
        context = (
            f" For comparison, on the same cache: the ridge probe on the class tokens "
            f"{probe['mean']:.1f} % (closed form, λ by cross-validation) and ALT "
            f"{alt['mean']:.1f} ± {alt['std']:.1f} % (the ladder, above)."
        )
    out = head + (
        f"`{r['command']}` ({r['machine']}): linear heads trained by AdamW on the ladder's cached "
        f"frozen features of the `{task}` dataset, as ALT is trained (batches of 16 clips, "
        "warm-up 10 steps, cosine decay, weight decay 0.01), the batch order drawn with seeds "
        f"{r['seeds']}; top-1 % on the 64 validation videos (train: on the 4 augmented training "
        "views). *ALT's classifier*: v = mean class token + W·x + b scored by s·cos(v, t_c) "
        "against the class-name texts, as ALT's residual is; *free softmax*: W·x + b."
        + context
        + "\n\n"
    )
    out += table(
        ["head", "steps", "peak lr", "train top-1", "validation top-1"],
        [
            [
                row["head"],
                str(row["steps"]),
                f"{row['lr']:g}",
                f"{statistics.fmean(row['train_top1']):.1f}",
                f"{statistics.fmean(row['val_top1']):.1f} ± {statistics.pstdev(row['val_top1']):.1f}",
            ]
            for row in r["rows"]
        ],
    )
    steps = min(row["steps"] for row in r["rows"])
    best = max(statistics.fmean(row["val_top1"]) for row in r["rows"] if row["steps"] == steps)
    variants = load("ladder_variants") or {"variants": {}}
    probe_off = variants["variants"].get("probe_off", {}).get("tasks", {}).get(r["task"])
    before = (
        f"{statistics.fmean(probe_off['rows']['alt']['runs']):.1f} % (probe off, the variants table)"
        if probe_off
        else "the probe-off figure"
    )
    out += (
        f"\nThe best head at {steps} steps reaches {best:.1f} %: what SGD on these inputs gets "
        "from the demo's budget, below the closed-form probe; the gap is why ALT fits that probe "
        "in closed form before training (`model.probe`, docs/method.md §5), which took ALT from "
        f"{before} to the ladder's figure above.\n"
    )
    return out


def render_ladder_variants() -> str:
    r = load("ladder_variants")
    head = "## ALT's choices, one at a time, on the capability datasets (issues #25, #26)\n\n"
    base = load("ladder")
    if r is None or base is None:
        return head + missing("ladder_variants", "python benchmarks/ladder_variants.py")
    variants = r["variants"]
    tasks = list(base["tasks"])
    seed_lists = [v["protocol"]["seeds"] for v in variants.values()]
    common_seeds = max(seed_lists, key=seed_lists.count)
    out = head + (
        f"`{r['command']}`: the ladder's ALT row (same data and schedule) with one knob "
        f"changed, seeds {common_seeds} unless the row names others"
        f"; *default* is the ladder's own ALT row (seeds {base['protocol']['seeds']}). Top-1 % "
        "(mean ± std over seeds); "
        "*one entity*: top-1 with every region given the batch's most used entity at "
        "evaluation; grounding (object patches named) and the most used entity's share after "
        "training, on appearance / change.\n\n"
    )
    entries = [("default", "default", base)] + [
        (
            name,
            v["description"]
            + (
                ""
                if v["protocol"]["seeds"] == common_seeds
                else f" (seeds {v['protocol']['seeds']})"
            ),
            v,
        )
        for name, v in variants.items()
    ]
    rows = []
    for _, description, result in entries:
        row = [description]
        for task in tasks:
            t = result["tasks"].get(task)
            row.append(mean_std(t["rows"]["alt"]) if t else "not run")
        constant = [
            result["tasks"][t]["ablations"]["alt"]["constant"]
            for t in ("appearance", "change")
            if t in result["tasks"] and "alt" in result["tasks"][t]["ablations"]
        ]
        row.append(" / ".join(mean_std(c) for c in constant) or "–")
        trained = {
            t: result["tasks"][t]["grounding"]["alt"]["trained"]
            for t in ("appearance", "change")
            if t in result["tasks"] and "alt" in result["tasks"][t]["grounding"]
        }
        row.append(" / ".join(seed_mean(v, "grounding") for v in trained.values()) or "–")
        row.append(" / ".join(seed_mean(v, "most_used_share") for v in trained.values()) or "–")
        rows.append(row)
    return out + table(
        [
            "variant",
            *tasks,
            "appearance / change, one entity",
            "appearance / change, grounding",
            "appearance / change, most used",
        ],
        rows,
    )


VICTR_DEMO_ROWS = {
    "victr": "VicTR (defaults)",
    "published": "VicTR, published design (`victr.PUBLISHED_DESIGN`)",
    "published_visual": "defaults, but class-token visual tokens (`visual='class_token'`)",
    "published_boost": "defaults, but u = a·w at τ = 0.01 (`boost='softmax'`)",
    "published_temporal_init": "defaults, but N(0, 0.02²) temporal embedding",
    "published_pooling": "defaults, but a temporal mean (`pooling='mean'`)",
    "published_anchor": "defaults, but the classifier on the head alone (`anchor=False`)",
}


def render_victr_demo() -> str:
    r = load("victr_demo")
    head = "## VicTR on the demo data (issues #16, #27)\n\n"
    if r is None or "published_design" not in r:
        return head + missing("victr_demo", "python benchmarks/victr_demo.py")
    n = r["boosted_token_norms"]
    out = head + (
        f"`{r['command']}` ({r['machine']}; {loads(r)}): `configs/demo_victr.py` (1 layer, 4 "
        "heads, 150 steps of 16 clips) on the demo's cached features, top-1 % on the 64 "
        "validation videos (chance 12.5 %, a model that gets the object and guesses the "
        "direction 25 %); each of our departures from the published design undone alone "
        "(docs/method.md §6).\n\n"
    )
    out += table(
        ["model", "top-1 %", "per seed"],
        [
            [VICTR_DEMO_ROWS.get(k, k), mean_std(v), ", ".join(f"{x:.1f}" for x in v["runs"])]
            for k, v in r["top1"].items()
        ],
    )
    out += (
        f"\nToken boosting on the validation frames ({n['texts_per_frame']} texts per frame: "
        "classes and corpus entities), ‖u_{t,j}‖ / ‖w_j‖:\n\n"
    )
    out += table(
        ["rule", "τ", "share below 1e-3", "median", "largest per frame (mean)"],
        [
            [
                "J·a·w (ours)" if v["relative"] else "a·w (published)",
                f"{v['temperature']}",
                f"{100 * v['fraction_below_1e-3']:.1f} %",
                f"{v['median']:.3g}",
                f"{v['mean_of_frame_max']:.2f}",
            ]
            for v in (n["published"], n["ours"])
        ],
    )
    return out


def render_ladder_victr() -> str:
    r = load("ladder_victr")
    head = "## VicTR on the capability datasets (issue #27)\n\n"
    if r is None:
        return head + missing("ladder_victr", "python benchmarks/ladder.py --rows=victr ...")
    ladder = load("ladder") or {"tasks": {}}
    p = r["protocol"]
    out = head + (
        f"`{r['command']} --out=benchmarks/results/ladder_victr.json` ({r['machine']}; "
        f"{loads(r)}): the sanity ladder's protocol (configs/demo.py's data, CLIP and schedule, "
        f"ToMe r = {p['tome_r']}) with the VicTR head (2 layers, 8 heads, our defaults), seeds "
        f"{p['seeds']}; ALT and the probes from the ladder above.\n\n"
    )
    rows = []
    for task, t in r["tasks"].items():
        ref = ladder["tasks"].get(task, {}).get("rows", {})
        rows.append(
            [
                task,
                *(mean_std(ref[c]) if c in ref else "–" for c in ("probe_class_tokens", "alt")),
                mean_std(t["rows"]["victr"]),
            ]
        )
    return out + table(["dataset", "probe: class tokens", "ALT", "VicTR"], rows)


def wrap(text: str, width: int = 100) -> str:
    """Fills prose paragraphs and list items to `width`; tables, code and headings stay."""
    blocks = []
    for block in text.split("\n\n"):
        if block.startswith(("|", "    ", "#")):
            blocks.append(block)
        elif block.startswith("- ") or "\n- " in block:
            items = ("\n" + block).split("\n- ")
            head = [textwrap.fill(items[0].strip(), width)] if items[0].strip() else []
            blocks.append(
                "\n".join(
                    head
                    + [
                        textwrap.fill(item, width, initial_indent="- ", subsequent_indent="  ")
                        for item in items[1:]
                    ]
                )
            )
        else:
            trailing = "\n" if block.endswith("\n") else ""
            filled = textwrap.fill(block.strip(), width, break_on_hyphens=False)
            blocks.append(filled + trailing)
    return "\n\n".join(blocks)


def render() -> str:
    """The whole of BENCHMARKS.md."""
    sections = [
        INTRO,
        render_headlines(),
        render_encoder(),
        render_accelerator(),
        render_scan_compile(),
        render_inference(),
        render_papers(),
        render_train_peers(),
        render_train_cache(),
        render_scaling(),
        render_input(),
        render_tome(),
        render_alt_flops(),
        render_tome_schedules(),
        render_victr(),
        render_untrained_grounding(),
        render_ladder(),
        render_grounding(),
        render_ladder_variants(),
        render_budget_heads(),
        render_synthact(),
        render_adapter_ablation(),
        render_victr_demo(),
        render_ladder_victr(),
        render_demo_accuracy(),
    ]
    return wrap("\n".join(s for s in sections if s))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DOC))
    args = parser.parse_args()
    Path(args.out).write_text(render())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
