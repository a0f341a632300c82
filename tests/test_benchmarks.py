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
        assert res["info"] == {"seconds": seconds}
        assert len(res["seconds"]) == 3
        # A sleep never returns early, whatever the load; the median is of the recorded rounds.
        assert min(res["seconds"]) >= seconds
        assert res["median_s"] == statistics.median(res["seconds"])
        assert res["peak_rss_mib"] >= res["rss_after_imports_mib"] > 0
    # No absolute upper bound (a loaded machine delays wake-ups): the ratio of the two, timed in
    # the same run, is 6 when only the call is timed. Load adding up to 0.2 s to every call
    # keeps it above 2; timing the 0.5 s pause before each call as well would give 0.8 / 0.55.
    assert results["long"]["median_s"] / results["short"]["median_s"] > 2
