"""The model card (README.md) an export carries: what the model classifies, what it was trained
and evaluated on (the run's own report, never a made-up number), how to call it, and what
trust_remote_code means for it.

Plain text from the export's config.json, its processor settings and a summary of the run
(`alt_jax.torch.convert.run_summary`); imports nothing from JAX.
"""

from __future__ import annotations

from typing import Any

HEAD_NAMES = {
    "alt_video_classifier": ("ALT", "*Align before Adapt* (ALT, CVPR 2024)"),
    "victr_video_classifier": ("VicTR", "VicTR (video-conditioned text representations)"),
}
# Dataset config keys the card names, in this order, when the run set them.
DATA_KEYS = ("kind", "root", "list_file", "class_names_file", "labels", "split", "tfds_name")


def percent(value: float) -> str:
    """0.625 → '62.50 %'."""
    return f"{100 * float(value):.2f} %"


def views_text(processor: dict[str, Any]) -> str:
    """How the processor samples a video, in words."""
    frames, clips = processor.get("num_frames", 8), processor.get("num_clips", 1)
    crops, stride = processor.get("num_crops", 1), processor.get("frame_stride", 0)
    size = processor.get("image_size", 224)
    sampling = (
        f"dense sampling, every {stride}th frame"
        if stride
        else "segment sampling, one frame per segment"
    )
    crop = "the centre crop" if crops == 1 else "3 crops along the longer side"
    return (
        f"{clips} clip(s) of {frames} frames ({sampling}), the short side resized to {size} px "
        f"(PIL bilinear), {crop} of {size}×{size}, CLIP mean/std normalisation; "
        f"{clips * crops} view(s), whose softmax the model averages"
    )


def classes_section(class_names: list[str]) -> list[str]:
    """The class list (id: name, as config.json's id2label)."""
    lines = [f"## Classes\n\n{len(class_names)} classes (`model.config.id2label`):\n"]
    lines += [f"{i}. {name}" for i, name in enumerate(class_names)]
    return lines


def data_lines(data: dict[str, Any]) -> list[str]:
    """A dataset config's set fields as Markdown list items."""
    return [f"- {key}: `{data[key]}`" for key in DATA_KEYS if data.get(key) not in (None, "")]


def training_section(run: dict[str, Any] | None) -> list[str]:
    """Where the weights come from: the run, its step and training data (or random weights)."""
    lines = ["## Training data\n"]
    if run is None:
        return lines + ["Not recorded: the export was written without a run."]
    if run.get("random"):
        return lines + [
            f"None: random weights at the CLIP preset {run['random']} "
            "(`tools/convert_to_pytorch.py --random`, for parity checks)."
        ]
    lines.append(
        f"Exported from the alt-jax run `{run['workdir']}` at step {run['step']} (frozen CLIP "
        f"backbone `{run.get('backbone') or 'random'}`; only the adapter side was trained). "
        "The run's training set:\n"
    )
    return lines + data_lines(run.get("train_data", {}))


def evaluation_section(run: dict[str, Any] | None) -> list[str]:
    """Each evaluation set's top-1 from the run's report at the exported step, or 'not
    evaluated'."""
    lines = ["## Evaluation\n"]
    evaluations = (run or {}).get("evaluations", [])
    if not evaluations:
        return lines + ["Not evaluated."]
    lines += [
        "From the run's evaluation reports at the exported step (`WORKDIR/eval/NAME_stepN.json`; "
        "softmax averaged over each video's views, as the processor and the pipeline do):\n",
        "| evaluation set | top-1 | top-5 | videos | views (clips × crops) |",
        "|---|---|---|---|---|",
    ]
    for e in evaluations:
        views = f"{e.get('num_clips', 1)} × {e.get('num_crops', 1)}"
        if e.get("top1") is None:
            lines.append(f"| {e['name']} | not evaluated | | | {views} |")
            continue
        top5 = percent(e["top5"]) if e.get("top5") is not None else ""
        lines.append(
            f"| {e['name']} | {percent(e['top1'])} | {top5} | {e.get('num_examples', '')} | "
            f"{views} |"
        )
    listed = [e for e in evaluations if e.get("list_file")]
    if listed:
        lines.append("")
        lines += [f"- {e['name']}: `{e['list_file']}`" for e in listed]
    return lines


USAGE = """## How to use

With transformers alone (no alt-jax), the video-classification pipeline (PyAV decodes):

```python
from transformers import pipeline

classify = pipeline("video-classification", model="path/to/this/folder", trust_remote_code=True)
classify("video.mp4", top_k=5)  # [{"label": ..., "score": ...}, ...]
```

The model and its processor:

```python
from transformers import AutoModelForVideoClassification, AutoProcessor

model = AutoModelForVideoClassification.from_pretrained("path/to/this/folder", trust_remote_code=True)
processor = AutoProcessor.from_pretrained("path/to/this/folder", trust_remote_code=True)
inputs = processor("video.mp4", return_tensors="pt")  # or uint8 frames [T, H, W, 3]
probabilities = model(**inputs).logits.softmax(-1)[0]
model.config.id2label[int(probabilities.argmax())]
```

`AutoModel` loads it too. With alt-jax installed, `import alt_jax.torch` registers the classes,
after which the same calls work without `trust_remote_code` and run the installed code.

The processor prepares a video as alt-jax's `predict` and the run's evaluation do: {views}.
`pixel_values` is [B, T, 3, S, S] with one view, [B, V, T, 3, S, S] with several; then `logits`
is the log of the view-averaged softmax, and `view_logits` [B, V, C] holds each view's. The
pipeline's `num_frames` is the model's; its `frame_sampling_rate` does not apply (the processor
samples). Other classes (zero-shot): `model(pixel_values, class_embeddings=E)`, E [C, d] the
class names' text embeddings from `clip/` (a transformers `CLIPModel` with its tokenizer) with
the prompt templates of `config.json`.
"""

REMOTE_CODE = """## trust_remote_code

The folder carries its own model and processor code (the `*.py` files, named in `auto_map` of
`config.json` and `video_preprocessor_config.json`), which `trust_remote_code=True` runs with
your permissions: load only exports you trust, or install alt-jax, `import alt_jax.torch` and load
without `trust_remote_code` to run the installed code instead.
"""


def details_section(config: dict[str, Any], versions: dict[str, str]) -> list[str]:
    """Shapes, ToMe schedule, frames, backbone precision in training, and the writing versions."""
    vision = config.get("vision_config", {})
    lines = [
        "## Model details\n",
        f"- frozen CLIP vision tower: {vision.get('num_hidden_layers', '?')} layers, width "
        f"{vision.get('hidden_size', '?')}, patch {vision.get('patch_size', '?')}, joint width "
        f"{vision.get('projection_dim', '?')}; `clip/` holds both towers for `CLIPModel`",
        f"- {config.get('num_frames')} frames of {config.get('image_size')} px; token merging "
        f"(ToMe) per layer {config.get('tome_schedule')}",
        f"- the training computed the backbone in {config.get('backbone_dtype_in_training')}; "
        "the export computes in float32",
    ]
    if "adapter" in config:
        lines.append(f"- video adapter: {config['adapter'].get('kind', 'global')}")
    if versions:
        lines.append("- written with " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def model_card(
    config: dict[str, Any],
    processor: dict[str, Any],
    run: dict[str, Any] | None = None,
    versions: dict[str, str] | None = None,
) -> str:
    """README.md of an export: `config` its config.json (dict), `processor` its processor
    settings, `run` the run summary (`convert.run_summary`; None or {"random": ...} for random
    weights), `versions` the packages that wrote it."""
    short, long = HEAD_NAMES.get(config.get("model_type"), ("ALT", "ALT"))
    front = [
        "---",
        "library_name: transformers",
        "pipeline_tag: video-classification",
        "tags:",
        "- video-classification",
        "- alt-jax",
        "- custom_code",
        "---",
        "",
        f"# {short} video classifier (alt-jax export)\n",
        f"{long} on a frozen CLIP, exported from alt-jax's JAX model to PyTorch as a transformers "
        "model. The class names and their text embeddings travel with the weights, so it "
        "classifies on its own.\n",
    ]
    parts = [
        "\n".join(front),
        "\n".join(classes_section(list(config.get("class_names", [])))),
        "\n".join(training_section(run)),
        "\n".join(evaluation_section(run)),
        USAGE.replace("{views}", views_text(processor)),
        REMOTE_CODE,
        "\n".join(details_section(config, versions or {})),
    ]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"
