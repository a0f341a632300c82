"""Benchmarks: the document matches its data, the peers' inference paths match transformers,
and contenders timed in turn report their own times and memory."""

import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks import common, render

REPO = Path(__file__).resolve().parents[1]


def test_benchmarks_md_is_rendered_from_the_results():
    """BENCHMARKS.md is exactly what benchmarks/render.py makes of benchmarks/results/."""
    committed = (REPO / "BENCHMARKS.md").read_text()
    assert committed == render.render(), "run: PYTHONPATH=. python benchmarks/render.py"


def test_xclip_video_logits_match_the_model_forward():
    """With the text tower's output given, the timed X-CLIP path is XCLIPModel.forward's."""
    torch = pytest.importorskip("torch")
    from benchmarks import peers

    model = peers.build_xclip("tiny", frames=2).eval()
    ids = torch.randint(0, 1000, (3, 7), generator=torch.Generator().manual_seed(0))
    pixels = torch.randn(2, 2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(input_ids=ids, pixel_values=pixels).logits_per_video
        text = model.text_projection(model.text_model(input_ids=ids).pooler_output)
        got = peers.xclip_video_logits(model, pixels, text)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_clip_frame_average_of_one_frame_is_clips_image_logits():
    """One frame: the frame average is CLIPModel's logits_per_image."""
    torch = pytest.importorskip("torch")
    from benchmarks import peers

    model = peers.build_torch_clip("tiny").eval()
    ids = torch.randint(0, 1000, (3, 7), generator=torch.Generator().manual_seed(0))
    pixels = torch.randn(2, 1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(input_ids=ids, pixel_values=pixels[:, 0]).logits_per_image
        text = model.get_text_features(input_ids=ids)
        text = text if isinstance(text, torch.Tensor) else text.pooler_output
        got = peers.clip_frame_average_logits(model, pixels, text)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def sleeper(seconds: float) -> dict:
    """A contender whose call sleeps: its timed seconds are known."""
    return {"run": lambda: time.sleep(seconds), "info": {"seconds": seconds}}


@pytest.mark.slow
@pytest.mark.parametrize("together, parallel", [(True, False), (True, True), (False, False)])
def test_race_times_each_contender_in_its_own_process(together, parallel):
    results = common.race(
        {
            "short": ("test_benchmarks:sleeper", {"seconds": 0.05}),
            "long": ("test_benchmarks:sleeper", {"seconds": 0.3}),
        },
        rounds=3,
        together=together,
        parallel_build=parallel,
    )
    for name, seconds in (("short", 0.05), ("long", 0.3)):
        res = results[name]
        assert res["info"] == {"seconds": seconds, "schedulable_cpus": common.cores()}
        assert len(res["seconds"]) == 3
        # A sleep never returns early, whatever the load; the median is of the recorded rounds.
        assert min(res["seconds"]) >= seconds
        assert res["median_s"] == statistics.median(res["seconds"])
        assert res["peak_rss_mib"] >= res["rss_after_imports_mib"] > 0
    # No absolute upper bound (a loaded machine delays wake-ups): the ratio of the two, timed in
    # the same run, is 6 when only the call is timed. Load adding up to 0.2 s to every call
    # keeps it above 2; timing the 0.5 s pause before each call as well would give 0.8 / 0.55.
    assert results["long"]["median_s"] / results["short"]["median_s"] > 2


def timed_result(**overrides) -> dict:
    """A minimal timed result as the benchmarks write it (two contenders, 5 rounds)."""
    seconds = {"a": [1.0, 1.2, 0.9, 1.1, 1.0], "b": [2.0, 2.2, 1.9, 2.4, 2.1]}
    rows = [
        {"name": name, "gflops_per_image": 1.0, "r": r, "tokens_out": 1, "gflops_vs_r0": 1.0}
        | {"time_s": common.spread(s), "speedup": common.round_ratios(seconds["a"], s)}
        for (name, s), r in zip(seconds.items(), (0, 16), strict=True)
    ]
    result = {
        "command": "PYTHONPATH=. python benchmarks/tome_speed.py",
        "args": {"preset": "B/16", "batch": 8},
        "machine_info": common.machine_info(),
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [2.0, 2.0, 2.0],
        "rows": rows,
    }
    result.update(overrides)
    return result


def render_tome_from(tmp_path, monkeypatch, result: dict) -> str:
    """render_tome of `result` written where the renderer reads results."""
    import json

    (tmp_path / "tome_speed.json").write_text(json.dumps(result))
    monkeypatch.setattr(render, "RESULTS", tmp_path)
    return render.render_tome()


def test_a_timed_table_shows_spreads_and_the_machine(tmp_path, monkeypatch):
    """Cells are 'median (min–max)' worked from the rounds; the machine line names the CPU."""
    text = render_tome_from(tmp_path, monkeypatch, timed_result())
    # b's speed-up per round: 1/2, 1.2/2.2, .9/1.9, 1.1/2.4, 1/2.1 = .5, .5455, .4737, .4583,
    # .4762 → median .4762, min .4583, max .5455 (the ratio of the medians would be 1/2.1 too,
    # here by chance). b's times: median 2.1 of 1.9..2.4.
    assert "| 16 | 1 | 1.00 | 17.54 | 1.00 | 2.100 (1.900–2.400) | 0.48× (0.46–0.55) |" in text
    assert common.cpu_model() in text and "5 rounds" in text
    assert "load average 1.0 at the start, 2.0 at the end" in text


@pytest.mark.parametrize(
    "break_it, message",
    [
        (lambda r: r.pop("machine_info"), "no 'machine_info'"),
        (lambda r: r["machine_info"].pop("cpu_model"), "machine_info has no 'cpu_model'"),
        (lambda r: r.pop("load_average_end"), "no 'load_average_end'"),
        (lambda r: r["rows"][1].update(time_s=2.1), "r16.time_s is 2.1, not a spread"),
        (lambda r: r["rows"][1]["speedup"].pop("max"), "r16.speedup is"),
        (lambda r: r["rows"][0]["time_s"].update(n=2), "has 2 rounds, fewer than 3"),
    ],
)
def test_a_timed_table_without_spreads_or_machine_is_refused(
    tmp_path, monkeypatch, break_it, message
):
    result = timed_result()
    break_it(result)
    with pytest.raises(render.IncompleteResult, match="tome_speed.json") as info:
        render_tome_from(tmp_path, monkeypatch, result)
    assert message in str(info.value)


def test_ratios_are_taken_within_rounds():
    """round_ratios pairs round i with round i: the median of ratios, not a ratio of medians."""
    a, b = [1.0, 10.0, 1.0], [2.0, 10.0, 3.0]
    assert common.round_ratios(b, a) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert statistics.median(b) / statistics.median(a) == 3.0  # what dividing medians would say
    with pytest.raises(ValueError, match="rounds differ"):
        common.round_ratios([1.0], [1.0, 2.0])


def self_timing(seconds: float) -> dict:
    """A contender whose run sleeps 0.2 s more than the time it reports."""

    def run() -> float:
        time.sleep(0.2 + seconds)
        return seconds

    return {"run": run, "info": {}}


def core_count() -> dict:
    """A contender that reports how many cores it may use."""
    import os

    return {"run": lambda: None, "info": {"affinity": len(os.sched_getaffinity(0))}}


@pytest.mark.slow
def test_race_records_a_self_timed_run_and_pins_cores():
    """A run returning a float is recorded as such; cpus=1 pins the contender to one core."""
    results = common.race(
        {
            "self": ("test_benchmarks:self_timing", {"seconds": 0.01}),
            "pinned": ("test_benchmarks:core_count", {}, {}, 1),
        },
        rounds=3,
    )
    assert results["self"]["seconds"] == [0.01, 0.01, 0.01]
    assert results["pinned"]["info"]["affinity"] == 1
    assert results["pinned"]["info"]["schedulable_cpus"] == 1
    assert results["self"]["time_s"] == {"median": 0.01, "min": 0.01, "max": 0.01, "n": 3}


def test_machine_info_names_what_a_timing_depends_on():
    info = common.machine_info()
    assert info["cpu_count"] >= info["schedulable_cpus"] >= 1
    assert info["versions"]["jax"] == __import__("jax").__version__
    assert info["versions"]["numpy"] == np.__version__


def test_confusions_are_summed_by_the_words_the_class_names_differ_in():
    from benchmarks.render import differing_words

    errors = {
        "small red circle → small red square": 3,
        "large blue square → large blue circle": 2,
        "large red square → small red circle": 1,
        "red circle moving left → red circle moving right": 4,
    }
    assert differing_words(errors) == {
        "circle / square": 5,
        "left / right": 4,
        "circle / large / small / square": 1,
    }


def test_the_b16_configs_use_the_schedule_the_table_chose():
    """configs_lib's B/16 schedule is the measured pick: at or below 0.45x X-CLIP-B/16's GFLOPs
    per view, the best mean top-1 of benchmarks/results/tome_schedules.json."""
    from alt_jax.configs_lib import BACKBONES

    result = render.load("tome_schedules")
    pick = render.chosen_schedule(result)
    assert pick["vs_xclip_b16"] <= 0.45
    assert all(
        row["supervised"]["mean"] <= pick["supervised"]["mean"]
        for row in result["rows"]
        if row["vs_xclip_b16"] <= 0.45
    )
    assert BACKBONES["B/16"][1] == pick["schedule"]


def test_a_b16_schedule_is_carried_by_the_fraction_of_patches_it_leaves():
    """16 merges a layer on B/16 leave 149, 101, 53 and 11 of 197 tokens after layers 3, 6, 9,
    12; on a 4-layer CLIP of 49 patches that is 37, 25, 13 and 2 patches, ToMe's cap (half the
    tokens but the class token) leaving 7 after the last layer."""
    from benchmarks.tome_schedules import b16_schedule, carried_schedule

    assert b16_schedule("16") == (16,) * 11 + (10,)
    assert carried_schedule(b16_schedule("16"), 4, 49) == (12, 12, 12, 6)
    assert carried_schedule(b16_schedule("0"), 4, 49) == (0, 0, 0, 0)
