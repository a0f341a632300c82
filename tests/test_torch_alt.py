"""The PyTorch ALT against the JAX model: ToMe merges, logits, alignment, the exported folders."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from alt_jax.builders import build_clip
from alt_jax.configs_lib import default_model_config
from alt_jax.models import tome as jax_tome
from alt_jax.models.alt import ALT
from alt_jax.torch import convert, modeling_adapter
from alt_jax.torch import tome as torch_tome
from alt_jax.torch.modeling_alt import ALTForVideoClassification

FRAMES, SIZE, CLASSES, ENTITIES = 3, 32, 5, 7


# Adapter variants the export must reproduce: the default ordered adapter, the first (global)
# one, and an ordered one with every optional part switched the other way.
ADAPTERS = {
    "ordered": (),
    "global": (("kind", "global"),),
    "ordered-window-token-nopos": (
        ("frame_window", 1),
        ("readout", "video_token"),
        ("position", "none"),
    ),
    "ordered-mean-raw": (
        ("readout", "mean"),
        ("temporal_position", False),
        ("temporal_input", "raw"),
        ("fourier_bands", 2),
        ("temporal_depth", 2),
    ),
    "ordered-centred-positioned-queries-edge-time": (
        ("temporal_input", "centred"),
        ("query_position", True),
        ("conv_padding", "edge"),
        ("frame_embedding", True),
    ),
    "ordered-video-token-floor-mean-pooling": (
        ("readout", "video_token"),
        ("change_floor", 0.5),
        ("query_pooling", "mean"),
    ),
    "ordered-class-token-raw-video-token": (
        ("class_token", True),
        ("temporal_input", "raw"),
        ("readout", "video_token"),
    ),
    "ordered-class-token": (("class_token", True),),
}


def tiny_model_config(tome_r: int, adapter: tuple = (), model: tuple = ()):
    """The model config of `tiny_alt`: a tiny CLIP, a 1-layer 2-head adapter of width 32, the
    `adapter` knobs set in model.adapter and the `model` ones (dotted keys) in model."""
    config = default_model_config()
    config.backbone.preset = "tiny"
    config.tome_r = tome_r
    config.num_frames = FRAMES
    config.adapter.depth = 1
    config.adapter.heads = 2
    config.adapter.width = 32
    for key, value in adapter:
        config.adapter[key] = value
    for key, value in model:  # dotted keys reach sub-configs ("alignment.w_r")
        *parents, leaf = key.split(".")
        node = config
        for name in parents:
            node = node[name]
        node[leaf] = value
    return config


@functools.cache
def tiny_alt(
    tome_r: int, seed: int = 0, adapter: tuple = (), model: tuple = (), image_size: int = SIZE
):
    """A tiny ALT with random entities, a non-zero gate (the adapter path counts) and its
    class embeddings (built once per r, adapter knobs, model knobs and image size; the tests
    only read it)."""
    config = tiny_model_config(tome_r, adapter, model)
    rng = np.random.default_rng(seed)
    entities = rng.normal(size=(ENTITIES, 32)).astype(np.float32)
    entities /= np.linalg.norm(entities, axis=-1, keepdims=True)
    # The CLIP as build_alt makes it (one program for every variant); the head eagerly: the tests
    # compare the export with JAX on the same weights, whatever they are, and eager ops compile
    # once per shape for all variants where a jitted init compiles a program per variant.
    clip = build_clip(config, seed=seed)
    model = ALT(clip, jnp.asarray(entities), config, rngs=nnx.Rngs(seed + 1))
    model.gate[...] = jnp.asarray(0.7, jnp.float32)
    if model.probe_enabled:  # zero until fitted: random values check that both sides apply it
        draw = np.random.default_rng(seed + 7)
        model.probe_mean[...] = jnp.asarray(draw.normal(size=32), jnp.float32)
        model.probe_map[...] = jnp.asarray(0.3 * draw.normal(size=(32, 32)), jnp.float32)
        model.probe_gate[...] = jnp.asarray(0.8, jnp.float32)
    if getattr(model.adapter, "video_token", None) is not None:
        # Zero at init; a random token checks that the readout really takes it.
        token = np.random.default_rng(seed + 5).normal(size=model.adapter.video_token.shape)
        model.adapter.video_token[...] = jnp.asarray(token, jnp.float32)
    class_emb = rng.normal(size=(CLASSES, 32)).astype(np.float32)
    torch_config = convert.torch_config(
        model,
        config,
        image_size=image_size,
        class_names=[f"c{i}" for i in range(CLASSES)],
        entity_names=[f"e{i}" for i in range(ENTITIES)],
    )
    return model, class_emb, torch_config


def test_torch_tome_merges_as_jax():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 17, 6)).astype(np.float32)
    metric = rng.normal(size=(2, 17, 4)).astype(np.float32)
    size = rng.integers(1, 4, size=(2, 17, 1)).astype(np.float32)
    merge = jax.jit(jax_tome.bipartite_merge, static_argnums=3)
    for r in (1, 5, 8):
        want = merge(jnp.asarray(x), jnp.asarray(size), jnp.asarray(metric), r)
        got = torch_tome.bipartite_merge(
            torch.from_numpy(x), torch.from_numpy(size), torch.from_numpy(metric), r
        )
        np.testing.assert_allclose(got[0].numpy(), np.asarray(want[0]), atol=1e-6)
        np.testing.assert_array_equal(got[1].numpy(), np.asarray(want[1]))
        np.testing.assert_array_equal(got[2].numpy(), np.asarray(want[2]))
    assert torch_tome.capped_schedule([4, 4, 4], 9) == list(jax_tome.parse_r_schedule(4, 3, 9))


@pytest.mark.slow
@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize("tome_r", [0, 3])
def test_exported_model_matches_jax(tome_r, adapter, tmp_path):
    """Logits within 1e-4, the same entity per region and the same regions, after a round trip
    through the saved folder."""
    model, class_emb, config = tiny_alt(tome_r, adapter=ADAPTERS[adapter])
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path)
    torch_model = ALTForVideoClassification.from_pretrained(tmp_path)
    videos = np.random.default_rng(1).normal(size=(2, FRAMES, SIZE, SIZE, 3)).astype(np.float32)
    want = nnx.jit(lambda m, v, c: m(v, c, train=False))(
        model, jnp.asarray(videos), jnp.asarray(class_emb)
    )
    got = torch_model(torch.from_numpy(videos).movedim(-1, -3))
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    np.testing.assert_array_equal(got["entity_index"].numpy(), np.asarray(want["entity_index"]))
    np.testing.assert_array_equal(got["dest"].numpy(), np.asarray(want["dest"]))
    assert got["entity_index"].shape[2] == (SIZE // 8) ** 2 - 2 * tome_r  # merged regions
    assert float(model.gate[...]) != 0 and torch_model.gate.item() == pytest.approx(0.7)
    # The adapter moves the logits (so the match above covers it): gate 0 changes them.
    torch_model.gate.data.zero_()
    clip_only = torch_model(torch.from_numpy(videos).movedim(-1, -3))["logits"].numpy()
    assert np.abs(clip_only - got["logits"].numpy()).max() > 1e-3


def random_videos(size: int = SIZE) -> np.ndarray:
    """The same two random CLIP-normalised videos float32 [2, T, size, size, 3] every call."""
    return np.random.default_rng(1).normal(size=(2, FRAMES, size, size, 3)).astype(np.float32)


def export_and_run(
    model: ALT, class_emb: np.ndarray, config: dict, folder: Path, size: int = SIZE
) -> tuple[ALTForVideoClassification, dict, dict]:
    """(the torch model loaded back from `folder`, its outputs, the JAX model's outputs) on
    `random_videos(size)`."""
    convert.to_torch(model, config, class_emb).save_pretrained(folder)
    torch_model = ALTForVideoClassification.from_pretrained(folder)
    videos = random_videos(size)
    want = nnx.jit(lambda m, v, c: m(v, c, train=False))(
        model, jnp.asarray(videos), jnp.asarray(class_emb)
    )
    got = torch_model(torch.from_numpy(videos).movedim(-1, -3))
    return torch_model, got, want


def torch_logits(torch_model: ALTForVideoClassification, size: int = SIZE) -> np.ndarray:
    """The torch model's logits on `random_videos(size)` (to rerun it after a change)."""
    return torch_model(torch.from_numpy(random_videos(size)).movedim(-1, -3))["logits"].numpy()


@pytest.mark.slow
def test_export_without_proportional_attention_matches_jax(tmp_path):
    """prop_attn=False with merges: neither model adds log(size) to the attention logits."""
    model, class_emb, config = tiny_alt(3, model=(("prop_attn", False),))
    assert config["prop_attn"] is False and config["tome_schedule"] == [3, 3]
    torch_model, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    np.testing.assert_array_equal(got["dest"].numpy(), np.asarray(want["dest"]))
    # The second layer sees merged tokens, so the bias would move the logits: the match above
    # covers the branch.
    torch_model.config["prop_attn"] = True
    assert np.abs(torch_logits(torch_model) - got["logits"].numpy()).max() > 1e-3


@pytest.mark.slow
def test_export_with_normalized_frame_pool_matches_jax(tmp_path):
    """frame_pool='normalized': the residual base is the mean of unit class features."""
    model, class_emb, config = tiny_alt(3, model=(("frame_pool", "normalized"),))
    assert config["frame_pool"] == "normalized"
    torch_model, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    # Raw pooling gives other logits, so the match above covers the branch.
    torch_model.config["frame_pool"] = "raw"
    assert np.abs(torch_logits(torch_model) - got["logits"].numpy()).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("size", [24, 48])
def test_export_at_a_non_native_image_size_matches_jax(size, tmp_path):
    """Away from the CLIP's own 32 px both models resize the position table (bicubic, the
    class row kept): same logits, entities and regions at that size."""
    model, class_emb, config = tiny_alt(3, image_size=size)
    assert model.clip.config.vision.image_size == SIZE != config["image_size"]
    _, got, want = export_and_run(model, class_emb, config, tmp_path, size)
    assert got["dest"].shape == (2, FRAMES, (size // 8) ** 2 + 1)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    np.testing.assert_array_equal(got["entity_index"].numpy(), np.asarray(want["entity_index"]))
    np.testing.assert_array_equal(got["dest"].numpy(), np.asarray(want["dest"]))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["maskclip", "sclip", "clearclip"])
def test_export_with_dense_region_features_matches_jax(kind, tmp_path):
    """region_features: the last block's dense path, merged with the tokens' partners, in
    both models; CLIP's own tokens give other entities, so the match covers the branch."""
    model, class_emb, config = tiny_alt(3, model=(("region_features", kind),))
    assert config["region_features"] == kind
    torch_model, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    np.testing.assert_array_equal(got["entity_index"].numpy(), np.asarray(want["entity_index"]))
    torch_model.config["region_features"] = "tokens"
    assert np.abs(torch_logits(torch_model) - got["logits"].numpy()).max() > 1e-3
    convert.export(model, config, class_emb, tmp_path / "export")
    loaded = load_alt_export_of(tmp_path / "export")
    assert loaded.model.clip.vision_model.region_features == kind


@pytest.mark.slow
def test_export_with_a_frozen_w_r_matches_jax(tmp_path):
    """alignment.w_r='frozen': W_r is no parameter, but the export carries it."""
    model, class_emb, config = tiny_alt(3, model=(("alignment.w_r", "frozen"),))
    assert "alignment.w_r" in convert.torch_state_dict(model, class_emb)
    _, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)


@pytest.mark.slow
def test_export_with_the_appearance_probe_matches_jax(tmp_path):
    """model.probe: μ, A and g_p travel with the weights, both sides add the probe term alike,
    and the export loads back into JAX with it."""
    model, class_emb, config = tiny_alt(3, model=(("probe.enabled", True),))
    assert config["probe"] is True
    torch_model, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    # The probe moves the logits, so the match above covers it.
    torch_model.probe_gate.data.zero_()
    assert np.abs(torch_logits(torch_model) - got["logits"].numpy()).max() > 1e-3
    loaded = load_alt_export_of(convert.export(model, config, class_emb, tmp_path / "export"))
    assert loaded.model.probe_enabled
    back = nnx.jit(lambda m, v, c: m(v, c, train=False))(
        loaded.model, jnp.asarray(random_videos()), jnp.asarray(loaded.class_embeddings)
    )
    np.testing.assert_allclose(np.asarray(back["logits"]), got["logits"].numpy(), atol=1e-4)


def load_alt_export_of(folder):
    from alt_jax.train.restore import load_alt_export

    return load_alt_export(folder)


@pytest.mark.slow
def test_export_with_learned_queries_matches_jax(tmp_path):
    """queries='learned' (no alignment): the learned query slots travel with the weights and
    the adapter reads them, as in JAX; there is no entity per region to report."""
    model, class_emb, config = tiny_alt(3, model=(("queries", "learned"),))
    num_queries = (SIZE // 8) ** 2 - 2 * 3  # regions per frame after the merges
    assert (config["queries"], config["num_queries"]) == ("learned", num_queries)
    keys = set(convert.torch_state_dict(model, class_emb))
    assert "learned_queries" in keys and not any(k.startswith("alignment.") for k in keys)
    torch_model, got, want = export_and_run(model, class_emb, config, tmp_path)
    np.testing.assert_allclose(got["logits"].numpy(), np.asarray(want["logits"]), atol=1e-4)
    np.testing.assert_array_equal(got["dest"].numpy(), np.asarray(want["dest"]))
    assert "entity_index" not in got and "entity_index" not in want
    # The slots move the logits, so the match above covers them.
    saved = torch_model.learned_queries.data.clone()
    torch_model.learned_queries.data.zero_()
    assert np.abs(torch_logits(torch_model) - got["logits"].numpy()).max() > 1e-3
    # One slot per region at the exported size: another size is an error, as in JAX.
    torch_model.learned_queries.data.copy_(saved)
    with pytest.raises(ValueError, match="learned queries"):
        torch_logits(torch_model, size=48)


# The model.adapter knobs config.json does not carry under their own name: mlp_ratio goes as the
# hidden width it gives, zero_output only sets W_o's start value (the weights carry W_o). Every
# other knob of `default_model_config().adapter` must reach config.json under its own name.
ADAPTER_KNOBS_EXPORTED_AS = {"mlp_ratio": "mlp_hidden", "zero_output": None}


class ReadRecorder(dict):
    """A dict that records the keys read from it (`[key]`, `.get`, `in`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.slow
def test_exported_config_records_the_adapter_knobs():
    """Every knob of model.adapter (the config schema's, so a new knob without export support
    fails here) reaches config.json with the run's value, and the PyTorch adapter reads every
    key the export writes; the optional parameters are present or absent as in the JAX model."""
    variant = ADAPTERS["ordered-window-token-nopos"]
    model, class_emb, config = tiny_alt(0, adapter=variant)
    run = tiny_model_config(0, adapter=variant)
    knobs = run.adapter
    schema = set(default_model_config().adapter)
    assert set(ADAPTER_KNOBS_EXPORTED_AS) <= schema  # no stale exception
    want = {k: knobs[k] for k in schema - set(ADAPTER_KNOBS_EXPORTED_AS)}
    want["mlp_hidden"] = int(knobs.width * knobs.mlp_ratio)
    # Not a model.adapter knob: the ordered adapter's relevance scores serve the entity readout.
    want["relevance"] = bool(run.entity_readout)
    missing = sorted(set(want) - set(config["adapter"]))
    assert not missing, (
        f"config.json lacks the model.adapter knobs {missing}: export them "
        "(convert.adapter_config) and read them (modeling_adapter.build_adapter)"
    )
    assert config["adapter"] == want
    assert (want["position"], want["frame_window"], want["readout"]) == ("none", 1, "video_token")
    recorder = ReadRecorder(config["adapter"])
    modeling_adapter.build_adapter(
        recorder,
        region_dim=config["vision_config"]["hidden_size"],
        text_dim=config["vision_config"]["projection_dim"],
        frames=FRAMES,
    )
    assert recorder.read == set(want), set(want) ^ recorder.read
    keys = set(convert.torch_state_dict(model, class_emb))
    assert {"adapter.window_embedding", "adapter.video_token", "adapter.temporal_position"} <= keys
    assert not any(k.startswith("adapter.region_position.") for k in keys)
    _, _, other = tiny_alt(0, adapter=ADAPTERS["ordered-mean-raw"])
    assert other["adapter"]["fourier_bands"] == 2 and other["adapter"]["temporal_depth"] == 2
    assert (other["adapter"]["temporal_position"], other["adapter"]["temporal_input"]) == (
        False,
        "raw",
    )
    _, _, old = tiny_alt(0, adapter=ADAPTERS["global"])
    assert old["adapter"]["kind"] == "global" and "readout" not in old["adapter"]
    with_class, emb, config = tiny_alt(0, adapter=ADAPTERS["ordered-class-token"])
    assert config["adapter"]["class_token"] is True
    keys = set(convert.torch_state_dict(with_class, emb))
    assert {"adapter.class_proj.weight", "adapter.ln_class.weight"} <= keys


def test_strict_loader_names_a_missing_or_misshapen_adapter_key():
    model, class_emb, config = tiny_alt(0)
    tensors = {
        k: torch.from_numpy(v) for k, v in convert.torch_state_dict(model, class_emb).items()
    }
    torch_model = ALTForVideoClassification(config)
    del tensors["adapter.region_position.fc1.weight"]
    tensors["adapter.temporal_position"] = tensors["adapter.temporal_position"][:2]
    tensors["adapter.video_token"] = torch.zeros(32)
    with pytest.raises(ValueError) as err:
        torch_model.load_state_dict_strict(tensors)
    message = str(err.value)
    assert "missing ['adapter.region_position.fc1.weight']" in message
    assert "unexpected ['adapter.video_token']" in message
    assert "adapter.temporal_position: (2, 32) vs model (3, 32)" in message


def test_a_folder_exported_before_the_ordered_adapter_loads_as_global(tmp_path):
    """A config.json without adapter.kind and queries (the first export format) is the global
    adapter on entity queries."""
    import json

    model, class_emb, config = tiny_alt(3, adapter=ADAPTERS["global"])
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["adapter"] = {
        k: saved["adapter"][k] for k in ("width", "depth", "heads", "mlp_hidden", "conv_kernel")
    }
    del saved["queries"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    torch_model = ALTForVideoClassification.from_pretrained(tmp_path)
    assert type(torch_model.adapter).__name__ == "GlobalVideoAdapter"
    assert torch_model.queries == "entities"
    videos = np.random.default_rng(1).normal(size=(2, FRAMES, SIZE, SIZE, 3)).astype(np.float32)
    diff = convert.max_logit_difference(model, torch_model, class_emb, videos)
    assert diff <= 1e-4


def test_normalize_matches_the_data_pipeline():
    from alt_jax.data.normalize import normalize_clip

    frames = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3), dtype=np.uint8)
    got = ALTForVideoClassification.normalize(torch.from_numpy(frames)).movedim(-3, -1)
    np.testing.assert_allclose(got.numpy(), np.asarray(normalize_clip(frames)), atol=1e-6)


def test_export_writes_a_clip_folder_transformers_loads(tmp_path):
    from transformers import CLIPModel

    model, class_emb, config = tiny_alt(0)
    convert.export(model, config, class_emb, tmp_path)
    clip = CLIPModel.from_pretrained(tmp_path / "clip").eval()
    images = np.random.default_rng(2).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
    ids = np.array([[49406, 320, 1125, 49407] + [0] * 73], np.int64)
    with torch.no_grad():
        image = clip.get_image_features(pixel_values=torch.from_numpy(images).movedim(-1, 1))
        text = clip.get_text_features(input_ids=torch.from_numpy(ids))
    image, text = (getattr(t, "pooler_output", t) for t in (image, text))
    want_image = nnx.jit(lambda m, x: m.encode_image(x))(model.clip, jnp.asarray(images))
    want_text = nnx.jit(lambda m, x: m.encode_text(x))(model.clip, jnp.asarray(ids, jnp.int32))
    np.testing.assert_allclose(image.numpy(), np.asarray(want_image), atol=1e-4)
    np.testing.assert_allclose(text.numpy(), np.asarray(want_text), atol=1e-4)


def test_from_pretrained_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        ALTForVideoClassification.from_pretrained(tmp_path)


@pytest.mark.slow
def test_converted_run_matches_jax_on_a_real_clip(tiny_workdir, bikes_video, tmp_path):
    """A trained run through the converter (workdir → folder → from_pretrained): same top class
    and logits within 1e-4 on frames of a real video."""
    from alt_jax.data import samples
    from alt_jax.data.normalize import normalize_clip
    from alt_jax.train import restore

    run = restore.load_run(tiny_workdir)
    class_emb = restore.class_embeddings(run)
    config = convert.torch_config(
        run.model,
        run.config.model,
        image_size=SIZE,
        class_names=run.class_names,
        entity_names=run.entity_names,
        source={"workdir": tiny_workdir, "step": run.step},
    )
    convert.export(run.model, config, class_emb, tmp_path)
    torch_model = ALTForVideoClassification.from_pretrained(tmp_path)
    spec = samples.ClipSpec(num_frames=4, image_size=SIZE)
    frames = samples.load_eval_sample({"video": bikes_video, "label": 0, "index": 0}, spec=spec)
    videos = frames["video"]  # [1, T, S, S, 3] uint8
    want = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])(
        run.model, normalize_clip(videos), jnp.asarray(class_emb)
    )
    got = torch_model(ALTForVideoClassification.normalize(torch.from_numpy(videos)))["logits"]
    np.testing.assert_allclose(got.numpy(), np.asarray(want), atol=1e-4)
    assert torch_model.config["class_names"] == run.class_names
    assert jax.device_get(want).argmax() == got.numpy().argmax()


@pytest.mark.slow
def test_convert_tool_checks_a_random_ordered_variant(tmp_path):
    """tools/convert_to_pytorch.py --random --adapter=… --check exports the knobs it was given
    and reports a parity within 1e-4."""
    import json
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, str(root / "tools" / "convert_to_pytorch.py"), "--random=tiny"]
    command += ["--tome_r=2", "--num_frames=2", f"--out={tmp_path}", "--check"]
    command += ["--adapter=frame_window=1", "--adapter=readout=mean", "--adapter=depth=1"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    diff = float(re.search(r"\| = (\S+) on one random clip", run.stdout).group(1))
    assert diff <= 1e-4
    adapter = json.loads((tmp_path / "config.json").read_text())["adapter"]
    assert (adapter["kind"], adapter["frame_window"], adapter["readout"]) == ("ordered", 1, "mean")


# -- issue #18: an export transformers users load whole, and back into JAX ------------------------

TEXTS = [
    "a video of a person riding a bike.",
    'Hello, World!! (punctuation; quotes "x" & dashes -- ok?)',
    "MiXeD CaSe and numbers 12345",
    "café naïve 日本語 emoji 🚲",
    " ".join(["long"] * 120),  # cut to 77 with the end token kept
]


@pytest.mark.slow
def test_exported_clip_folder_carries_the_tokenizer_and_image_processor(tmp_path):
    """export/clip loads with CLIPTokenizer, CLIPTokenizerFast, CLIPProcessor and AutoProcessor
    offline; their ids are `alt_jax.tokenize`'s and the image processor normalises a centred
    image of the model's size as the data pipeline does."""
    from transformers import AutoProcessor, CLIPProcessor, CLIPTokenizer, CLIPTokenizerFast

    import alt_jax
    from alt_jax.data.normalize import normalize_clip

    model, class_emb, config = tiny_alt(0)
    convert.export(model, config, class_emb, tmp_path)
    folder = tmp_path / "clip"
    assert {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"} <= {
        p.name for p in folder.iterdir()
    }
    want = np.asarray(alt_jax.tokenize(TEXTS))
    kwargs = dict(padding="max_length", max_length=77, truncation=True, return_tensors="np")
    for tokenizer in (
        CLIPTokenizer.from_pretrained(folder),
        CLIPTokenizerFast.from_pretrained(folder),
        CLIPProcessor.from_pretrained(folder).tokenizer,
        AutoProcessor.from_pretrained(folder).tokenizer,
    ):
        assert tokenizer.vocab_size == 49408
        out = tokenizer(TEXTS, **kwargs)
        # transformers pads with the end token, `tokenize` with 0: equal where the mask is 1.
        got = np.where(out["attention_mask"] == 1, out["input_ids"], 0)
        np.testing.assert_array_equal(got, want)
        assert (out["attention_mask"].sum(1) == (want != 0).sum(1)).all()
    image = np.random.default_rng(3).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    for processor in (CLIPProcessor.from_pretrained(folder), AutoProcessor.from_pretrained(folder)):
        pixels = processor(images=image, return_tensors="np")["pixel_values"]
        assert pixels.shape == (1, 3, SIZE, SIZE)
        np.testing.assert_allclose(
            pixels[0].transpose(1, 2, 0), np.asarray(normalize_clip(image)), atol=1e-5
        )


@pytest.mark.slow
def test_the_export_is_a_transformers_model_automodel_loads(tmp_path):
    """ALTForVideoClassification is a PreTrainedModel with its own config class; the export
    folder carries its code, so AutoModel(trust_remote_code=True) loads it without alt_jax."""
    from transformers import AutoModel, PretrainedConfig, PreTrainedModel

    model, class_emb, config = tiny_alt(3)
    convert.export(model, config, class_emb, tmp_path)
    torch_model = ALTForVideoClassification.from_pretrained(tmp_path)
    assert isinstance(torch_model, PreTrainedModel)
    assert isinstance(torch_model.config, PretrainedConfig)
    assert torch_model.config.model_type == "alt_video_classifier"
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["auto_map"] == {
        "AutoConfig": "configuration_alt.ALTConfig",
        "AutoModel": "modeling_alt.ALTForVideoClassification",
        # the video-classification pipeline loads through this one
        "AutoModelForVideoClassification": "modeling_alt.ALTForVideoClassification",
    }
    code_files = {p.name for p in tmp_path.glob("*.py")}
    assert code_files == {
        "modeling_alt.py",
        "modeling_adapter.py",  # imported by modeling_alt.py
        "modeling_clip_video.py",  # imported by both, and importing tome.py
        "configuration_alt.py",
        "tome.py",
        "video_processing_alt.py",  # the video processor (video_preprocessor_config.json)
    }
    for name in code_files:
        code = (tmp_path / name).read_text()
        assert not re.search(r"^\s*(from|import)\s+alt_jax", code, re.M)  # runs without alt_jax
    assert type(AutoModel.from_pretrained(tmp_path)) is ALTForVideoClassification  # registered
    # Without alt_jax (blocked in a fresh interpreter) the folder's own code runs.
    np.save(tmp_path / "videos.npy", random_videos())
    code = f"""
import sys
sys.modules["alt_jax"] = None  # import alt_jax fails
import numpy as np, torch
from transformers import AutoConfig, AutoModel
folder = {str(tmp_path)!r}
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
assert type(model).__name__ == "ALTForVideoClassification", type(model)
assert AutoConfig.from_pretrained(folder, trust_remote_code=True).id2label[0] == "c0"
pixels = torch.from_numpy(np.load(folder + "/videos.npy")).movedim(-1, -3)
np.save(folder + "/remote.npy", model(pixels)["logits"].numpy())
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "remote.npy"), torch_logits(torch_model), atol=1e-6
    )


# -- exports written before the code files were named modeling_*.py --------------------------------

TORCH_SOURCES = Path(modeling_adapter.__file__).parent
# A relative import of one of the modeling files: `from .modeling_x import a, b` or `(…)`.
MODELING_IMPORT = re.compile(r"^from \.(modeling_\w+) import (\([^)]*\)|[^\n]*)\n", re.M)


# What exports written before the video-classification pipeline support (CHANGELOG.md) lacked.
PIPELINE_FILES = ("video_processing_alt.py", "video_preprocessor_config.json", "README.md")


def write_pre_pipeline_layout(folder: Path) -> None:
    """Turns an export folder into what exports written before the video-classification
    pipeline support held: no video processor, no model card, and an auto_map naming only
    AutoConfig and AutoModel."""
    for name in PIPELINE_FILES:
        (folder / name).unlink()
    saved = json.loads((folder / "config.json").read_text())
    del saved["auto_map"]["AutoModelForVideoClassification"]
    (folder / "config.json").write_text(json.dumps(saved, indent=2))


def write_old_layout(folder: Path) -> None:
    """Turns an export folder into what exports written before the modeling_*.py names held:
    one alt.py with the frozen-CLIP mixin, the adapter and ALT in it (relative imports of
    .configuration_alt and .tome only), for a VicTR export a victr.py importing from .alt, and
    an auto_map naming alt / victr (and neither a video processor nor a model card)."""
    from transformers.dynamic_module_utils import get_relative_imports

    write_pre_pipeline_layout(folder)

    parts = [
        (TORCH_SOURCES / f"modeling_{name}.py").read_text()
        for name in ("clip_video", "adapter", "alt")
    ]
    future = "from __future__ import annotations\n"
    body = "".join(MODELING_IMPORT.sub("", part).replace(future, "") for part in parts)
    (folder / "alt.py").write_text(future + body)
    if (folder / "modeling_victr.py").is_file():
        code = (folder / "modeling_victr.py").read_text()
        start = MODELING_IMPORT.search(code).start()
        names = sorted(
            {
                name.strip()
                for found in MODELING_IMPORT.finditer(code)
                for name in re.sub(r"#.*", "", found.group(2)).strip("()").split(",")
                if name.strip()
            }
        )
        rest = MODELING_IMPORT.sub("", code[start:])
        (folder / "victr.py").write_text(
            code[:start] + f"from .alt import ({', '.join(names)})\n" + rest
        )
        assert sorted(get_relative_imports(folder / "victr.py")) == ["alt", "configuration_alt"]
    for path in folder.glob("modeling_*.py"):
        path.unlink()
    assert sorted(get_relative_imports(folder / "alt.py")) == ["configuration_alt", "tome"]
    saved = json.loads((folder / "config.json").read_text())
    saved["auto_map"] = {
        auto: re.sub(r"^modeling_", "", name) for auto, name in saved["auto_map"].items()
    }
    assert saved["auto_map"]["AutoModel"] in (
        "alt.ALTForVideoClassification",
        "victr.VicTRForVideoClassification",
    )
    (folder / "config.json").write_text(json.dumps(saved, indent=2))


def remote_logits(folder: Path, pixels: torch.Tensor, module: str, name: str) -> np.ndarray:
    """The logits on `pixels` of `AutoModel.from_pretrained(folder, trust_remote_code=True)` in
    a fresh interpreter where alt_jax cannot be imported; its class must be `name` from the
    folder's `module`.py."""
    np.save(folder / "pixels.npy", pixels.numpy())
    code = f"""
import sys
sys.modules["alt_jax"] = None  # import alt_jax fails
import numpy as np, torch
from transformers import AutoModel
folder = {str(folder)!r}
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
kind = type(model)
assert (kind.__module__.rpartition(".")[2], kind.__name__) == ({module!r}, {name!r}), kind
pixels = torch.from_numpy(np.load(folder + "/pixels.npy"))
np.save(folder + "/logits.npy", model(pixels)["logits"].numpy())
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder)
    assert run.returncode == 0, run.stderr[-3000:]
    return np.load(folder / "logits.npy")


@pytest.mark.slow
def test_an_export_written_before_the_modeling_names_still_loads(tmp_path):
    """An export in the old layout (alt.py, auto_map "alt.ALTForVideoClassification") loads
    with AutoModel(trust_remote_code=True) without alt_jax, with ALTForVideoClassification and
    the registered AutoModel, and back into JAX: the same logits as before the rewrite."""
    from transformers import AutoModel

    model, class_emb, config = tiny_alt(3)
    convert.export(model, config, class_emb, tmp_path)
    want = torch_logits(ALTForVideoClassification.from_pretrained(tmp_path))
    write_old_layout(tmp_path)
    assert {p.name for p in tmp_path.glob("*.py")} == {"alt.py", "configuration_alt.py", "tome.py"}
    pixels = torch.from_numpy(random_videos()).movedim(-1, -3)
    got = remote_logits(tmp_path, pixels, "alt", "ALTForVideoClassification")
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_array_equal(
        torch_logits(ALTForVideoClassification.from_pretrained(tmp_path)), want
    )
    registered = AutoModel.from_pretrained(tmp_path)  # alt_jax's class, not the folder's code
    assert type(registered) is ALTForVideoClassification
    loaded = load_alt_export_of(tmp_path)
    back = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])(
        loaded.model, jnp.asarray(random_videos()), jnp.asarray(loaded.class_embeddings)
    )
    np.testing.assert_allclose(np.asarray(back), want, atol=1e-4)


def test_registered_classes_load_with_automodel_and_round_trip(tmp_path):
    """`import alt_jax.torch` registers the config and model with the Auto classes; HF's
    save_pretrained → from_pretrained gives the same logits."""
    from transformers import AutoConfig, AutoModel

    import alt_jax.torch  # noqa: F401  (registers)

    model, class_emb, config = tiny_alt(3, adapter=ADAPTERS["global"])
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path / "a")
    first = AutoModel.from_pretrained(tmp_path / "a")
    assert type(first) is ALTForVideoClassification
    assert type(AutoConfig.from_pretrained(tmp_path / "a")).__name__ == "ALTConfig"
    first.save_pretrained(tmp_path / "b")
    second = ALTForVideoClassification.from_pretrained(tmp_path / "b")
    np.testing.assert_array_equal(torch_logits(second), torch_logits(first))
    assert second.config["class_names"] == first.config.class_names


def test_from_pretrained_names_a_missing_tensor(tmp_path):
    """A folder with a tensor missing or misshapen is an error naming both, not a random init."""
    from safetensors.torch import load_file, save_file

    model, class_emb, config = tiny_alt(0)
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path)
    tensors = load_file(str(tmp_path / "model.safetensors"))
    del tensors["adapter.conv_bias"]
    tensors["adapter.conv_kernel"] = tensors["adapter.conv_kernel"][:2]
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError) as err:
        ALTForVideoClassification.from_pretrained(tmp_path)
    assert "missing ['adapter.conv_bias']" in str(err.value)
    assert "adapter.conv_kernel" in str(err.value)


@pytest.mark.slow
def test_alt_jax_torch_imports_without_jax():
    code = (
        "import sys, alt_jax.torch, alt_jax.torch.modeling_alt, alt_jax.torch.modeling_victr; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'flax')); "
        "assert not bad, bad"
    )
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ["ordered", "global"])
def test_an_export_loads_back_into_jax(adapter, tmp_path):
    """export → `alt_jax.train.restore.load_alt_export` → an ALT nnx model whose logits are the
    torch export's."""
    from alt_jax.train.restore import load_alt_export

    model, class_emb, config = tiny_alt(3, adapter=ADAPTERS[adapter])
    convert.export(model, config, class_emb, tmp_path)
    loaded = load_alt_export(tmp_path)
    assert isinstance(loaded.model, ALT)
    assert loaded.class_names == config["class_names"]
    assert loaded.entity_names == config["entity_names"]
    videos = random_videos()
    got = nnx.jit(lambda m, v, c: m(v, c, train=False))(
        loaded.model, jnp.asarray(videos), jnp.asarray(loaded.class_embeddings)
    )
    torch_model = ALTForVideoClassification.from_pretrained(tmp_path)
    np.testing.assert_allclose(np.asarray(got["logits"]), torch_logits(torch_model), atol=1e-4)
    np.testing.assert_array_equal(
        np.asarray(got["dest"]),
        torch_model(torch.from_numpy(videos).movedim(-1, -3))["dest"].numpy(),
    )


@pytest.mark.parametrize("key", ["adapter.conv_kernel", "gate", "entities"])
def test_from_pretrained_refuses_a_retyped_tensor(key, tmp_path):
    """An F32 tensor whose header says I32 has the same size; transformers would cast the
    garbage integers to float without a word (parameters and buffers alike)."""
    from safetensors.torch import load_file
    from test_clip import rewrite_header

    model, class_emb, config = tiny_alt(0)
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path)
    rewrite_header(tmp_path / "model.safetensors", lambda h: h[key].update(dtype="I32"))
    assert load_file(tmp_path / "model.safetensors")[key].dtype == torch.int32  # a valid file
    with pytest.raises(ValueError, match=rf"dtype mismatch.*{key}: checkpoint I32, .*float32"):
        ALTForVideoClassification.from_pretrained(tmp_path)


def test_strict_loader_refuses_an_integer_tensor():
    model, class_emb, config = tiny_alt(0)
    tensors = {
        k: torch.from_numpy(v) for k, v in convert.torch_state_dict(model, class_emb).items()
    }
    tensors["adapter.conv_bias"] = tensors["adapter.conv_bias"].to(torch.int32)
    with pytest.raises(ValueError, match=r"mistyped \['adapter.conv_bias: torch.int32 vs model"):
        ALTForVideoClassification(config).load_state_dict_strict(tensors)


@pytest.mark.parametrize(
    "key, edit, problem",
    [
        ("gate", {"dtype": "I32"}, r"gate: checkpoint dtype int32, model expects floating point"),
        ("entities", {"dtype": "I32"}, r"'entities' is int32 \(7, 32\), .*\(7, 32\)"),
        # One row short: 4 class embeddings for the config's 5 class names.
        ("class_embeddings", "drop a row", r"'class_embeddings' is float32 \(4, 32\), .*\(5, 32\)"),
    ],
    ids=["retyped-gate", "retyped-entities", "short-class-embeddings"],
)
def test_load_alt_export_refuses_retyped_or_misshapen_tensors(key, edit, problem, tmp_path):
    """The JAX reader of an export checks each tensor against the config: its dtype, and for
    the entity and class matrices their shape [len(names), projection_dim]."""
    from test_clip import rewrite_header

    from alt_jax.train.restore import load_alt_export
    from alt_jax.weights import CheckpointError

    model, class_emb, config = tiny_alt(0)
    convert.export(model, config, class_emb, tmp_path)
    path = tmp_path / "model.safetensors"
    if edit == "drop a row":  # rewritten whole: the tensor's bytes shrink too
        from safetensors.numpy import load_file, save_file

        tensors = load_file(path)
        tensors[key] = tensors[key][:-1]
        save_file(tensors, path)
    else:
        rewrite_header(path, lambda h: h[key].update(edit))
    with pytest.raises(CheckpointError, match=problem):
        load_alt_export(tmp_path)


# -- the video-classification pipeline: registration, ModelOutput, processor, model card ----------

CONVERT_TOOL = Path(__file__).resolve().parents[1] / "tools" / "convert_to_pytorch.py"


def convert_tool():
    """tools/convert_to_pytorch.py as a module (its main runs in this process)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_to_pytorch", CONVERT_TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Run in a fresh interpreter where alt_jax cannot be imported: a pip user's transformers alone.
PIPELINE_CODE = """
import json, sys
sys.modules["alt_jax"] = None  # import alt_jax fails: the folder's own code runs
import numpy as np
from transformers import AutoProcessor, pipeline

folder, video, top_k = sys.argv[1], sys.argv[2], int(sys.argv[3])
classify = pipeline("video-classification", model=folder, trust_remote_code=True)
result = classify(video, top_k=top_k)
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
np.save(folder + "/pixels.npy", processor(video, return_tensors="np")["pixel_values"])
kinds = [type(x).__module__ for x in (classify.model, classify.video_processor, processor)]
print(json.dumps({"result": result, "modules": kinds}))
"""


def eval_report(folder: Path, step: int, names: list[str], hits: int) -> None:
    """An evaluation report as the trainer writes it (evaluation.write_reports) for 2 videos per
    class of which the first `hits` are classified right."""
    from alt_jax.train import evaluation

    labels = np.repeat(np.arange(len(names)), 2)
    predicted = np.where(np.arange(len(labels)) < hits, labels, (labels + 1) % len(names))
    probs = np.full((len(labels), len(names)), 0.1 / (len(names) - 1))
    probs[np.arange(len(labels)), predicted] = 0.9
    evaluation.write_reports(folder / "eval", "val", step, probs, labels, names)


@pytest.mark.slow
def test_the_video_classification_pipeline_gives_predicts_probabilities(
    tiny_workdir, bikes_video, tmp_path, capsys, monkeypatch
):
    """A trained run through tools/convert_to_pytorch.py, then transformers'
    `pipeline("video-classification", model=EXPORT, trust_remote_code=True)` without alt_jax on a
    real clip: predict's classes in predict's order with its probabilities within 1e-4 (both
    average the softmax over the run's 2 evaluation clips). AutoProcessor loads the export's
    processor, whose pixels are the JAX evaluation's; the model card names the classes and the
    top-1 of the run's report at the exported step (not another step's)."""
    import shutil

    from alt_jax import predict
    from alt_jax.data import samples
    from alt_jax.data.normalize import normalize_clip
    from alt_jax.train import restore

    run_dir = tmp_path / "run"  # a copy: the reports written below stay out of the shared run
    shutil.copytree(tiny_workdir, run_dir)
    run = restore.load_run(run_dir)
    monkeypatch.setattr(restore, "load_run", lambda *args, **kwargs: run)  # loaded once
    names = run.class_names
    eval_report(run_dir, run.step, names, hits=5)  # top-1 5 / 8 at the exported step
    eval_report(run_dir, run.step - 1, names, hits=8)  # another step's: not the export's
    out = tmp_path / "export"
    convert_tool().main([f"--workdir={run_dir}", f"--out={out}"])
    capsys.readouterr()  # the tool's report

    card = (out / "README.md").read_text()
    assert all(f"{i}. {name}\n" in card for i, name in enumerate(names)), card
    assert "| val | 62.50 % | 100.00 % | 8 | 2 × 1 |" in card
    assert card.count("100.00 %") == 1  # step 1's top-1 of 100 % is not quoted
    assert 'pipeline("video-classification"' in card and "trust_remote_code" in card
    assert f"list_file: `{run.config.data.list_file}`" in card  # the training set

    assert (
        predict.main([f"--workdir={run_dir}", "--json", f"--top_k={len(names)}", bikes_video]) == 0
    )
    want = json.loads(capsys.readouterr().out)["videos"][0]["top"]
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE_CODE, str(out), bikes_video, str(len(names))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(m.startswith("transformers_modules.") for m in got["modules"]), got["modules"]
    assert [r["label"] for r in got["result"]] == [t["class"] for t in want]
    diff = max(abs(r["score"] - t["probability"]) for r, t in zip(got["result"], want))
    print(f"pipeline vs predict: max |probability difference| = {diff:.3g}")
    assert diff <= 1e-4

    cfg = run.config.evals["val"]
    spec = samples.ClipSpec(
        num_frames=cfg.num_frames,
        image_size=cfg.image_size,
        num_clips=cfg.num_clips,
        num_crops=cfg.num_crops,
    )
    views = samples.load_eval_sample({"video": bikes_video, "label": 0, "index": 0}, spec=spec)
    pixels = np.load(out / "pixels.npy")
    assert pixels.shape == (1, 2, cfg.num_frames, 3, SIZE, SIZE)  # [B, V, T, 3, S, S]
    np.testing.assert_allclose(
        pixels[0], np.moveaxis(np.asarray(normalize_clip(views["video"])), -1, -3), atol=1e-5
    )


# (processor settings, the equivalent evaluation ClipSpec fields): the tiny run's 2 segment
# clips, and dense sampling with 3 crops at another size.
PROCESSOR_CASES = {
    "segment-2-clips": ({"num_frames": 4, "image_size": 32, "num_clips": 2}, {}),
    "dense-3-crops": (
        {"num_frames": 3, "image_size": 48, "num_clips": 2, "num_crops": 3, "frame_stride": 5},
        {"stride": 5},
    ),
}


def test_the_processor_s_standalone_copies_equal_the_pipeline_s():
    """The processor travels alone in every export (no alt_jax there), so it carries its own
    frame sampling and constants: each equals the evaluation pipeline's."""
    from alt_jax.data import decode, normalize, sampling
    from alt_jax.torch import video_processing_alt as processor

    for count in range(1, 41):
        for num_frames in (1, 2, 3, 4, 8):
            for num_clips in (1, 2, 3):
                for stride in (0, 1, 2, 5):
                    got = processor.eval_indices(count, num_frames, num_clips, stride)
                    want = sampling.eval_indices(count, num_frames, num_clips, stride or None)
                    np.testing.assert_array_equal(
                        got, want, err_msg=f"{count, num_frames, num_clips, stride}"
                    )
    assert processor.CLIP_MEAN == normalize.CLIP_MEAN and processor.CLIP_STD == normalize.CLIP_STD
    assert processor.DEFAULT_MAX_FRAME_PIXELS == decode.DEFAULT_MAX_FRAME_PIXELS


@pytest.mark.parametrize("case", list(PROCESSOR_CASES))
def test_the_processor_prepares_a_clip_as_the_evaluation_pipeline(case, bikes_video):
    """ALTVideoProcessor on a real clip (a file, decoded with PyAV) and on the same clip's
    frames turned portrait (an array): the JAX evaluation pipeline's views and normalisation,
    within 1e-5."""
    from alt_jax.data import augment, decode, samples, sampling
    from alt_jax.data.normalize import normalize_clip
    from alt_jax.torch import ALTVideoProcessor

    settings, spec_fields = PROCESSOR_CASES[case]
    processor = ALTVideoProcessor(**settings)
    spec = samples.ClipSpec(
        num_frames=settings["num_frames"],
        image_size=settings["image_size"],
        num_clips=settings["num_clips"],
        num_crops=settings.get("num_crops", 1),
        **spec_fields,
    )
    views = samples.load_eval_sample({"video": bikes_video, "label": 0, "index": 0}, spec=spec)
    want = np.moveaxis(np.asarray(normalize_clip(views["video"])), -1, -3)
    got = processor(bikes_video, return_tensors="np")["pixel_values"]
    assert got.shape == (1, *want.shape)
    np.testing.assert_allclose(got[0], want, atol=1e-5)
    # Frames given as an array, portrait (the crops run along the height): sampled and cropped
    # as the evaluation does.
    frames = decode.decode_frames(bikes_video, range(0, 60, 2)).transpose(0, 2, 1, 3)
    indices = sampling.eval_indices(len(frames), spec.num_frames, spec.num_clips, spec.stride)
    views = np.concatenate(
        [augment.eval_views(frames[i], spec.image_size, spec.num_crops) for i in indices]
    )
    got = processor(frames, return_tensors="pt")["pixel_values"]
    np.testing.assert_allclose(
        got[0].numpy(), np.moveaxis(np.asarray(normalize_clip(views)), -1, -3), atol=1e-5
    )


def test_the_model_returns_a_model_output_and_averages_views():
    """The forward returns a transformers ModelOutput (attributes and the dict keys it had);
    [B, V, T, 3, H, W] input gives logits whose softmax is the views' average softmax, the
    views' own logits, and every per-clip output with a view axis."""
    from transformers.utils import ModelOutput

    model, class_emb, config = tiny_alt(3)
    torch_model = convert.to_torch(model, config, class_emb)
    videos = np.random.default_rng(4).normal(size=(2, 3, FRAMES, SIZE, SIZE, 3))
    pixels = torch.from_numpy(videos.astype(np.float32)).movedim(-1, -3)  # [B, V, T, 3, S, S]
    single = torch_model(pixels.flatten(0, 1))
    assert isinstance(single, ModelOutput) and single.logits is single["logits"]
    assert list(single.keys()) == ["logits", "video_embedding", "entity_index", "dest"]
    out = torch_model(pixels)
    per_view = single.logits.reshape(2, 3, CLASSES)
    np.testing.assert_allclose(
        out.logits.softmax(-1).numpy(), per_view.softmax(-1).mean(1).numpy(), atol=1e-6
    )
    np.testing.assert_array_equal(out.view_logits.numpy(), per_view.numpy())
    assert out.entity_index.shape == (2, 3, *single.entity_index.shape[1:])
    assert out.dest.shape == (2, 3, *single.dest.shape[1:])


def test_the_model_card_says_not_evaluated_without_a_report_of_the_step(tmp_path):
    """run_summary takes only the report of the exported step; without one the card says
    'not evaluated' (and lists the classes)."""
    import tiny_run

    from alt_jax.torch.model_card import model_card

    config = tiny_run.tiny_config(str(tmp_path / "data"))
    eval_report(tmp_path / "w", 1, ["a", "b"], hits=4)
    summary = convert.run_summary(config, tmp_path / "w", step=2)
    assert summary["evaluations"][0].get("top1") is None
    card = model_card(
        {"model_type": "alt_video_classifier", "class_names": ["a", "b"]},
        {"image_size": 32, "num_frames": 4, "num_clips": 2},
        summary,
    )
    assert "| val | not evaluated |" in card and "0. a\n1. b\n" in card
    assert "100.00 %" not in card and "step 2" in card
    assert convert.run_summary(config, tmp_path / "w", step=1)["evaluations"][0]["top1"] == 1.0


@pytest.mark.slow
def test_an_export_written_before_the_pipeline_support_still_loads(bikes_video, tmp_path):
    """An export without the processor, the card and the AutoModelForVideoClassification entry
    loads as before; with alt_jax.torch imported AutoModelForVideoClassification loads it, and
    the pipeline runs on it given an ALTVideoProcessor. (Without alt_jax, such folders load with
    AutoModel: test_an_export_written_before_the_modeling_names_still_loads, whose layout lacks
    them too.)"""
    from transformers import AutoModelForVideoClassification, pipeline

    from alt_jax.torch import ALTVideoProcessor

    model, class_emb, config = tiny_alt(3)
    convert.export(model, config, class_emb, tmp_path)
    want = torch_logits(ALTForVideoClassification.from_pretrained(tmp_path))
    write_pre_pipeline_layout(tmp_path)
    loaded = AutoModelForVideoClassification.from_pretrained(tmp_path)
    assert type(loaded) is ALTForVideoClassification
    np.testing.assert_array_equal(torch_logits(loaded), want)
    processor = ALTVideoProcessor(image_size=SIZE, num_frames=FRAMES)
    classify = pipeline("video-classification", model=loaded, video_processor=processor)
    result = classify(bikes_video, top_k=CLASSES)
    probs = loaded(**processor(bikes_video, return_tensors="pt")).logits.softmax(-1)[0]
    got = {r["label"]: r["score"] for r in result}
    assert got == pytest.approx({f"c{i}": float(p) for i, p in enumerate(probs)}, abs=1e-6)
