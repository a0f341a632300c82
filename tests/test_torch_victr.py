"""The PyTorch VicTR against the JAX model: logits, the saved folder, a converted run, and the
tools (predict, visualize_alignment) on a VicTR run."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

from alt_jax.builders import build_clip
from alt_jax.configs_lib import default_model_config
from alt_jax.models import adapter, region_position
from alt_jax.models.alt import frozen_video_features
from alt_jax.models.clip import CLIP
from alt_jax.models.victr import PUBLISHED_DESIGN, VicTR
from alt_jax.torch import convert
from alt_jax.torch import modeling_adapter as torch_adapter
from alt_jax.torch.modeling_victr import VicTRForVideoClassification
from alt_jax.train.restore import TrainedRun

REPO = Path(__file__).resolve().parents[1]
# 4 frames: the float64 check's frame average of exact unit vectors is then exact in float32.
FRAMES, SIZE, CLASSES, AUXILIARY, TOME_R = 4, 32, 5, 4, 3
# VicTR's logits are s = 100 times cosines that pass through τ = 0.1 and 0.01 softmaxes and the
# ordered pool's change normalisation: a relative 1e-7 perturbation after the head's last
# LayerNorm moves them by ~6e-5 (measured in float64), so two float32 implementations of the
# same function differ by ~1e-4 (up to 1.5e-4 here and over 12 other random models; JAX alone
# is 4e-5 from the float64 value). The float64 test pins the port itself to 1e-9.
F32_ATOL = 3e-4

# (victr knobs, auxiliary texts, width): our defaults; the published design; a head narrower
# than CLIP's joint width (in_proj and out_proj) with no auxiliary texts (m = 0).
CASES = {
    "default": ((), AUXILIARY, 0),
    "published": (tuple(PUBLISHED_DESIGN.items()), AUXILIARY, 0),
    "narrow-no-auxiliary": ((), 0, 16),
}


def model_config(knobs: tuple = (), width: int = 0) -> ml_collections.ConfigDict:
    """The tiny model config of a VicTR (1 layer, 2 heads) with `knobs` set."""
    c = default_model_config()
    c.head = "victr"
    c.backbone.preset = "tiny"
    c.tome_r = TOME_R
    c.num_frames = FRAMES
    c.victr.layers = 1
    c.victr.heads = 2
    c.victr.width = width
    for key, value in knobs:
        c.victr[key] = value
    return c


@pytest.fixture(scope="module")
def clip() -> CLIP:
    """One random tiny CLIP with ToMe r = 3 (regions are merged), shared by every case."""
    return build_clip(model_config(), seed=0)


def random_videos() -> np.ndarray:
    """Two random CLIP-normalised videos float32 [2, T, S, S, 3]."""
    return np.random.default_rng(1).normal(size=(2, FRAMES, SIZE, SIZE, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def features(clip: CLIP) -> dict[str, np.ndarray]:
    """The JAX CLIP's features of `random_videos()` (the heads' common input)."""
    out = nnx.jit(frozen_video_features)(clip, jnp.asarray(random_videos()))
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def victr(clip: CLIP) -> Callable[[str], tuple[VicTR, np.ndarray, dict]]:
    """case → (JAX VicTR, class embeddings, torch config dict), each built once."""
    built = {}

    def get(case: str) -> tuple[VicTR, np.ndarray, dict]:
        """The model, class embeddings and torch config of one case."""
        if case not in built:
            knobs, m, width = CASES[case]
            config = model_config(knobs, width)
            aux = np.random.default_rng(2).normal(size=(m, 32)).astype(np.float32)
            # Built under jit: one compilation instead of one per initialiser.
            model = nnx.jit(lambda c: VicTR(c, aux, config, rngs=nnx.Rngs(1)))(clip)
            class_emb = np.random.default_rng(3).normal(size=(CLASSES, 32)).astype(np.float32)
            torch_config = convert.torch_config(
                model,
                config,
                image_size=SIZE,
                class_names=[f"c{i}" for i in range(CLASSES)],
                entity_names=[f"text {i}" for i in range(m)],
            )
            built[case] = (model, class_emb, torch_config)
        return built[case]

    return get


def jax_head(model: VicTR, features: dict, class_emb: np.ndarray) -> np.ndarray:
    """The JAX model's logits on features (its __call__ is head(video_features(videos)))."""
    return np.asarray(
        nnx.jit(lambda m, f, c: m.head(f, c, train=False)["logits"])(
            model, {k: jnp.asarray(v) for k, v in features.items()}, jnp.asarray(class_emb)
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_exported_model_matches_jax(case, victr, features, tmp_path):
    """Logits within F32_ATOL and the same regions, after a round trip through the folder."""
    model, class_emb, config = victr(case)
    knobs = config["victr"]
    assert (knobs["width"] != 32) == (case == "narrow-no-auxiliary")
    convert.to_torch(model, config, class_emb).save_pretrained(tmp_path)
    torch_model = VicTRForVideoClassification.from_pretrained(tmp_path)
    got = torch_model(torch.from_numpy(random_videos()).movedim(-1, -3))
    want = jax_head(model, features, class_emb)
    diff = float(np.abs(got["logits"].numpy() - want).max())
    print(f"{case}: max |logit JAX - logit PyTorch| = {diff:.3g}")
    assert diff <= F32_ATOL
    np.testing.assert_array_equal(got["dest"].numpy(), features["dest"])
    assert features["ln"].shape[2] - 1 == (SIZE // 8) ** 2 - 2 * TOME_R  # merged regions
    if knobs["anchor"]:  # the head moves the logits, so the match above covers it
        torch_model.class_gate.data.zero_()
        torch_model.video_gate.data.zero_()
        clip_only = torch_model(torch.from_numpy(random_videos()).movedim(-1, -3))["logits"]
        assert np.abs(clip_only.numpy() - got["logits"].numpy()).max() > 1e-3


def exact_units(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Unit vectors [*shape, 32] of ±1/4 on 16 channels: float32 normalises them exactly."""
    out = np.zeros((*shape, 32), np.float32)
    for row in out.reshape(-1, 32):
        row[rng.permutation(32)[:16]] = rng.choice([-0.25, 0.25], 16)
    return out


def attention_at_input_precision(
    q: jax.Array, k: jax.Array, v: jax.Array, bias: jax.Array | None
) -> jax.Array:
    """The adapters' attention with its logits at the inputs' dtype (the model's runs them in
    float32 even for float64 inputs)."""
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
    if bias is not None:
        logits = logits + bias
    return jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(logits, axis=-1), v)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_head_is_the_jax_head_in_float64(case, victr, features, monkeypatch):
    """Both heads in float64 on the same inputs agree to 1e-9: the port computes VicTR's
    function, and the float32 differences above are rounding. The inputs are chosen so the JAX
    head's float32 casts are exact (unit class tokens and prompts of ±1/4), its attention runs
    at float64, and both heads read the same region position features (the geometry is ALT's,
    compared in float32 by the test above and test_torch_alt)."""
    model, _, config = victr(case)
    rng = np.random.default_rng(4)
    inputs = {**features, "cls": exact_units(rng, 2, FRAMES)}
    class_emb = exact_units(rng, CLASSES)
    num_regions = features["ln"].shape[2] - 1
    position = np.asarray(
        region_position.region_position_features(
            jnp.asarray(features["dest"]), num_regions, config["victr"]["fourier_bands"]
        ),
        np.float64,
    )
    monkeypatch.setattr(adapter, "dot_product_attention", attention_at_input_precision)
    monkeypatch.setattr(
        region_position, "region_position_features", lambda *_: jnp.asarray(position)
    )
    with jax.enable_x64(True):
        graphdef, state = nnx.split(model)
        state = jax.tree.map(
            lambda x: jnp.asarray(x, jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            state,
        )
        want = jax_head(nnx.merge(graphdef, state), inputs, class_emb.astype(np.float64))
    assert want.dtype == np.float64

    def encode_positions(encoder, dest, m):
        """fc2(GELU(fc1(features))) of the shared position features."""
        features = torch.from_numpy(position)
        return encoder.fc2(F.gelu(encoder.fc1(features), approximate="tanh"))

    monkeypatch.setattr(torch_adapter.RegionPositionEncoder, "forward", encode_positions)
    torch_model = convert.to_torch(model, config, class_emb).double()
    inputs64 = {
        k: torch.from_numpy(v.astype(np.float64) if k != "dest" else v) for k, v in inputs.items()
    }
    monkeypatch.setattr(torch_model, "video_tokens", lambda _: inputs64)
    got = torch_model(torch.zeros(2, FRAMES), torch.from_numpy(class_emb.astype(np.float64)))
    diff = float(np.abs(got["logits"].numpy() - want).max())
    print(f"{case} in float64: max |logit JAX - logit PyTorch| = {diff:.3g}")
    assert diff <= 1e-9


@pytest.mark.slow
def test_the_export_is_a_registered_transformers_model(victr, tmp_path):
    """`import alt_jax.torch` registers VicTR with the Auto classes; the folder carries its
    code (modeling_victr.py and the files it imports, recursively) and names it in auto_map, so
    AutoModel (trust_remote_code=True) loads it without alt_jax."""
    from transformers import AutoConfig, AutoModel

    import alt_jax.torch  # noqa: F401  (registers)

    model, class_emb, config = victr("published")
    convert.export(model, config, class_emb, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "victr_video_classifier"
    assert saved["auto_map"] == {
        "AutoConfig": "configuration_alt.VicTRConfig",
        "AutoModel": "modeling_victr.VicTRForVideoClassification",
        "AutoModelForVideoClassification": "modeling_victr.VicTRForVideoClassification",
    }
    assert {p.name for p in tmp_path.glob("*.py")} == {
        "modeling_victr.py",
        "modeling_adapter.py",  # imported by modeling_victr.py
        "modeling_clip_video.py",  # imported by both, and importing tome.py
        "tome.py",
        "configuration_alt.py",
        "video_processing_alt.py",  # the video processor, either head's
    }
    torch_model = AutoModel.from_pretrained(tmp_path)
    assert type(torch_model) is VicTRForVideoClassification
    assert AutoConfig.from_pretrained(tmp_path).id2label[0] == "c0"
    # Without alt_jax (blocked in a fresh interpreter) the folder's own code runs.
    pixels = torch.from_numpy(random_videos()).movedim(-1, -3)
    torch.save({"pixels": pixels, "logits": torch_model(pixels)["logits"]}, tmp_path / "io.pt")
    code = f"""
import sys
sys.modules["alt_jax"] = None  # import alt_jax fails
import torch
from transformers import AutoModel
folder = {str(tmp_path)!r}
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
assert type(model).__name__ == "VicTRForVideoClassification", type(model)
io = torch.load(folder + "/io.pt")
assert torch.allclose(model(io["pixels"])["logits"], io["logits"], rtol=0, atol=1e-6)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    # An ALT class refuses the folder by name rather than building ALT from VicTR's config.
    from alt_jax.torch.modeling_alt import ALTForVideoClassification

    with pytest.raises(ValueError, match="victr_video_classifier"):
        ALTForVideoClassification.from_pretrained(tmp_path)


@pytest.mark.slow
def test_an_export_written_before_the_modeling_names_still_loads(victr, tmp_path):
    """A VicTR export in the old layout (victr.py importing alt.py, auto_map
    "victr.VicTRForVideoClassification") loads with AutoModel(trust_remote_code=True) without
    alt_jax, with VicTRForVideoClassification, and back into JAX: the logits of before."""
    from test_torch_alt import remote_logits, write_old_layout

    from alt_jax.train.restore import load_victr_export

    model, class_emb, config = victr("default")
    convert.export(model, config, class_emb, tmp_path)
    pixels = torch.from_numpy(random_videos()).movedim(-1, -3)
    want = VicTRForVideoClassification.from_pretrained(tmp_path)(pixels)["logits"].numpy()
    write_old_layout(tmp_path)
    assert {p.name for p in tmp_path.glob("*.py")} == {
        "victr.py",
        "alt.py",
        "tome.py",
        "configuration_alt.py",
    }
    got = remote_logits(tmp_path, pixels, "victr", "VicTRForVideoClassification")
    np.testing.assert_allclose(got, want, atol=1e-6)
    again = VicTRForVideoClassification.from_pretrained(tmp_path)(pixels)["logits"].numpy()
    np.testing.assert_array_equal(again, want)
    loaded = load_victr_export(tmp_path)
    back = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])(
        loaded.model, jnp.asarray(random_videos()), jnp.asarray(loaded.class_embeddings)
    )
    assert np.abs(np.asarray(back) - want).max() <= F32_ATOL


# The model.victr knobs config.json does not carry under their own name: mlp_ratio goes as the
# hidden width it gives, aux_texts as the auxiliary texts themselves (auxiliary_names), and
# temporal_init and gate_init only set start values (the weights carry the trained ones). Every
# other knob of `default_model_config().victr` must reach config.json under its own name.
VICTR_KNOBS_EXPORTED_AS = {
    "mlp_ratio": "victr.mlp_hidden",
    "aux_texts": "auxiliary_names",
    "temporal_init": None,
    "gate_init": None,
}


@pytest.mark.parametrize("case", list(CASES))
def test_exported_config_records_every_victr_knob(case, victr):
    """Every knob of model.victr (the config schema's, so a new knob without export support
    fails here) reaches config.json with the run's value, and the PyTorch head reads every key
    the export writes."""
    from test_torch_alt import ReadRecorder

    from alt_jax.torch.configuration_alt import VicTRConfig

    _, _, config = victr(case)
    knobs, _, width = CASES[case]
    run = model_config(knobs, width).victr
    schema = set(default_model_config().victr)
    assert set(VICTR_KNOBS_EXPORTED_AS) <= schema  # no stale exception
    want = {k: run[k] for k in schema - set(VICTR_KNOBS_EXPORTED_AS)}
    want["width"] = run.width or 32  # 0: CLIP's joint width
    want["mlp_hidden"] = int(want["width"] * run.mlp_ratio)
    missing = sorted(set(want) - set(config["victr"]))
    assert not missing, (
        f"config.json lacks the model.victr knobs {missing}: export them "
        "(convert.victr_config) and read them (VicTRForVideoClassification)"
    )
    assert config["victr"] == want
    assert "auxiliary_names" in config
    torch_config = VicTRConfig(**{k: v for k, v in config.items() if k != "model_type"})
    torch_config.victr = recorder = ReadRecorder(torch_config.victr)
    VicTRForVideoClassification(torch_config)
    # fourier_bands places the region pool's positions: no pool, nothing to read.
    unused = {"fourier_bands"} if want["visual"] == "class_token" else set()
    assert recorder.read == set(want) - unused, (set(want) - unused) ^ recorder.read


@pytest.mark.parametrize(
    "key, value", [("visual", "pixels"), ("boost", "hard"), ("pooling", "max")]
)
def test_an_unknown_knob_is_named(key, value, victr):
    """A knob value the port does not have is a ValueError naming the key and the value."""
    _, _, config = victr("default")
    config = {**config, "victr": {**config["victr"], key: value}}
    with pytest.raises(ValueError, match=rf"victr\.{key} must be one of .*{value!r}"):
        VicTRForVideoClassification(config)


# -- a trained VicTR run through the tools ---------------------------------------------------------


@pytest.fixture(scope="module")
def victr_workdir(tiny_data, tmp_path_factory) -> str:
    """A workdir holding a 2-step tiny VicTR run's checkpoint."""
    import tiny_run

    from alt_jax.train.trainer import Trainer

    config = tiny_run.tiny_config(tiny_data)
    config.model.head = "victr"
    config.model.probe.enabled = False
    config.model.victr.layers = 1
    config.model.victr.heads = 2
    config.num_train_steps = 2
    config.checkpoint_every = 2
    workdir = str(tmp_path_factory.mktemp("victr_workdir"))
    Trainer(config, workdir).train()
    return workdir


@pytest.fixture(scope="module")
def victr_run(victr_workdir: str) -> TrainedRun:
    """The VicTR run loaded once by `restore.load_run`."""
    from alt_jax.train import restore

    return restore.load_run(victr_workdir)


@pytest.fixture
def reuse_run(victr_run, victr_workdir, monkeypatch):
    """The tools' `load_run` of the VicTR workdir returns the run loaded once."""
    from alt_jax.train import restore

    real = restore.load_run

    def load(workdir, step=None, **overrides):
        """The module's run for its workdir, a real load for anything else."""
        same = os.path.abspath(workdir) == os.path.abspath(victr_workdir) and step is None
        return (
            victr_run if same and not any(overrides.values()) else real(workdir, step, **overrides)
        )

    monkeypatch.setattr(restore, "load_run", load)


def load_tool(name: str) -> ModuleType:
    """tools/NAME.py as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_converted_run_matches_jax_on_a_real_clip(
    victr_run, victr_workdir, bikes_video, tmp_path, reuse_run
):
    """tools/convert_to_pytorch.py on a VicTR workdir → a folder whose model gives the run's
    JAX logits on frames of a real video, and which loads back into JAX."""
    from alt_jax.data import samples
    from alt_jax.data.normalize import normalize_clip
    from alt_jax.train import restore
    from alt_jax.train.restore import load_victr_export

    assert isinstance(victr_run.model, VicTR) and len(victr_run.entity_names) == 4
    out = tmp_path / "export"
    load_tool("convert_to_pytorch").main([f"--workdir={victr_workdir}", f"--out={out}"])
    torch_model = VicTRForVideoClassification.from_pretrained(out)
    assert torch_model.config.class_names == victr_run.class_names
    assert torch_model.config.auxiliary_names == victr_run.entity_names  # the corpus units
    spec = samples.ClipSpec(num_frames=4, image_size=SIZE)
    frames = samples.load_eval_sample({"video": bikes_video, "label": 0, "index": 0}, spec=spec)
    videos = frames["video"]  # [1, T, S, S, 3] uint8
    class_emb = restore.class_embeddings(victr_run)
    forward = nnx.jit(lambda m, v, c: m(v, c, train=False)["logits"])
    want = np.asarray(forward(victr_run.model, normalize_clip(videos), jnp.asarray(class_emb)))
    got = torch_model(VicTRForVideoClassification.normalize(torch.from_numpy(videos)))["logits"]
    diff = float(np.abs(got.numpy() - want).max())
    print(f"converted run: max |logit JAX - logit PyTorch| = {diff:.3g}")
    assert diff <= F32_ATOL and want.argmax() == got.numpy().argmax()
    loaded = load_victr_export(out)
    assert loaded.auxiliary_names == victr_run.entity_names
    back = forward(loaded.model, normalize_clip(videos), jnp.asarray(loaded.class_embeddings))
    np.testing.assert_allclose(np.asarray(back), want, atol=1e-5)


@pytest.mark.slow
def test_the_video_classification_pipeline_gives_predicts_probabilities(
    victr_workdir, bikes_video, tmp_path, capsys, reuse_run
):
    """A VicTR run exports the same way as an ALT one: transformers' video-classification
    pipeline (trust_remote_code, alt_jax not importable) gives predict's classes in its order
    with its probabilities within 1e-4, and the model card is VicTR's."""
    from test_torch_alt import PIPELINE_CODE

    from alt_jax import predict

    out = tmp_path / "export"
    load_tool("convert_to_pytorch").main([f"--workdir={victr_workdir}", f"--out={out}"])
    capsys.readouterr()  # the tool's report
    card = (out / "README.md").read_text()
    assert "# VicTR video classifier" in card and "| val | not evaluated |" in card
    assert predict.main([f"--workdir={victr_workdir}", "--json", "--top_k=4", bikes_video]) == 0
    want = json.loads(capsys.readouterr().out)["videos"][0]["top"]
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE_CODE, str(out), bikes_video, "4"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])["result"]
    assert [r["label"] for r in got] == [t["class"] for t in want]
    diff = max(abs(r["score"] - t["probability"]) for r, t in zip(got, want))
    print(f"VicTR pipeline vs predict: max |probability difference| = {diff:.3g}")
    assert diff <= 1e-4


@pytest.mark.slow
def test_predict_prints_top_classes_of_a_victr_run(victr_workdir, bikes_video, capsys, reuse_run):
    """Sorted top classes, then one line instead of the per-frame entities; JSON says so too."""
    from alt_jax import predict

    assert predict.main([f"--workdir={victr_workdir}", "--top_k=3", bikes_video]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == bikes_video and len(lines) == 5
    shares = [float(line.split()[-1].rstrip("%")) for line in lines[1:4]]
    assert [line.split(".")[0].strip() for line in lines[1:4]] == ["1", "2", "3"]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 100.01
    assert lines[4] == "  (no per-frame entities: VicTR runs have no region-entity alignment)"
    assert predict.main([f"--workdir={victr_workdir}", "--json", bikes_video]) == 0
    video = json.loads(capsys.readouterr().out)["videos"][0]
    assert len(video["top"]) == 4 and video["frames"] == [] and "VicTR" in video["note"]


@pytest.mark.slow
def test_visualize_alignment_refuses_a_victr_run(
    victr_workdir, bikes_video, tmp_path, capsys, monkeypatch, reuse_run
):
    """Exit 2 with one line saying why, not a traceback, and no picture."""
    out = tmp_path / "alignment.png"
    argv = [f"--workdir={victr_workdir}", bikes_video, f"--out={out}"]
    monkeypatch.setattr(sys, "argv", ["visualize_alignment.py", *argv])
    assert load_tool("visualize_alignment").main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {victr_workdir}: VicTR runs have no region-entity alignment to draw"]
    assert not out.exists()


@pytest.mark.slow
def test_load_run_names_an_unknown_head(victr_workdir, victr_run, monkeypatch):
    """A run of a head this version lacks is refused with the heads it can load."""
    from alt_jax.train import restore

    config = copy.deepcopy(victr_run.config)
    config.model.head = "nope"
    monkeypatch.setattr(restore, "read_config", lambda *_: config)
    with pytest.raises(
        ValueError, match=r"model.head is 'nope'; only runs of the heads \['alt', 'victr'\]"
    ):
        restore.load_run(victr_workdir)
