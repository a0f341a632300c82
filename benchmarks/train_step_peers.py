"""Training step against X-CLIP, in one run: step time, clips/s, GFLOPs and peak memory.

    PYTHONPATH=. python benchmarks/train_step_peers.py      # B/16, 8 frames; ALT 8 and 2, X-CLIP 2

Contenders, each in its own process, random weights, float32, `--frames`-frame clips:
  alt_bN    ALT's training step from uint8 video (`alt_jax.train.steps.make_train_step`): frozen
            CLIP with ToMe r = `--r`, the alignment + adapter trained with AdamW, batch N.
  xclip_bN  X-CLIP fine-tuned end to end with AdamW (lr 8e-6, weight decay 0.001, its B/16
            recipe): vision tower, MIT, prompt generator and projections get gradients;
            cross-entropy on `peers.xclip_video_logits` against C class text embeddings, batch N.
X-CLIP's published recipe also fine-tunes the text tower on all C class prompts every step; that
is left out of the timed step (the class text embeddings are fixed inputs, as for ALT), and its
cost is given apart: FLOPs of the text tower's forward + backward on C prompts of 77 tokens,
from FlopCounterMode on 4 prompts scaled by C / 4 (prompts are independent).
Timing as in benchmarks/inference.py (built first, called in turn, one warm-up call; medians
with min–max, the per-clip ratio to X-CLIP taken within each round).
GFLOPs per step: XLA cost analysis for ALT, FlopCounterMode over forward + backward for X-CLIP
(a multiply-add counts 2 in both). Hand check of X-CLIP's count, per 8-frame clip: the forward
is 288.36 GFLOPs (`benchmarks.flops.xclip_flops_per_view`, of which 11.88 attention and 1.85 the
patch embedding); a trained matmul's backward costs 2× its forward (gradients of input and
weight), the patch embedding's 1× (no gradient for the pixels), the fused CPU attention's 2.5×
(torch's formula: the flash kernel recomputes the scores), so a step is
3 × 288.36 − 1.85 + 0.5 × 11.88 = 869.2 GFLOPs per clip; the counter gives 869.2.
Writes benchmarks/results/train_step_peers.json.
"""

import argparse

from benchmarks.common import (
    RESULTS,
    cores,
    race,
    round_ratios,
    run_record,
    spread,
    write_result,
)


def alt_train_contender(
    preset: str, frames: int, batch: int, classes: int, r: int, entities: int = 240
) -> dict:
    """ALT's jitted training step from video (`benchmarks.train_step`); run = one step."""
    from benchmarks.train_step import step_contender

    contender = step_contender(preset, frames, batch, classes, r, entities, "video")
    contender["info"].update(
        model=f"ALT-{preset}",
        framework="JAX",
        tome_r=r,
        trained="alignment + adapter (CLIP frozen)",
    )
    return contender


def xclip_train_contender(preset: str, frames: int, batch: int, classes: int) -> dict:
    """X-CLIP end-to-end AdamW step on its video path and prompts (text tower not run)."""
    import torch

    from benchmarks import peers
    from benchmarks.common import torch_flops

    torch.set_num_threads(cores())
    model = peers.build_xclip(preset, frames).train()
    for module in (model.text_model, model.text_projection):
        module.requires_grad_(False)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=8e-6, weight_decay=0.001)
    cfg = model.config.vision_config
    gen = torch.Generator().manual_seed(0)
    size = cfg.image_size
    pixels = torch.randn(batch, frames, 3, size, size, generator=gen)
    text = torch.randn(classes, model.config.projection_dim, generator=gen)
    labels = torch.randint(0, classes, (batch,), generator=gen)

    def run():
        logits = peers.xclip_video_logits(model, pixels, text)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    gflops = torch_flops(run) / 1e9

    # The text tower's cost if it were fine-tuned too, per step: forward + backward on C prompts.
    text_gflops = _text_tower_gflops(peers.build_xclip(preset, frames), prompts=4) * classes / 4
    info = {
        "model": f"X-CLIP-{preset}",
        "framework": "PyTorch",
        "batch": batch,
        "gflops_per_step": gflops,
        "text_tower_gflops_per_step_excluded": text_gflops,
        "trained": "vision tower, MIT, prompt generator, projections (end to end)",
        "params_trained": sum(p.numel() for p in trained),
        "torch_threads": torch.get_num_threads(),
        "config": peers.xclip_config_summary(model.config),
    }
    return {"run": run, "info": info}


def _text_tower_gflops(model, prompts: int) -> float:
    """GFLOPs of the X-CLIP text tower's forward + backward on `prompts` prompts of 77 tokens."""
    import torch

    from benchmarks.common import torch_flops

    text_model = model.text_model.train()
    ids = torch.randint(0, text_model.config.vocab_size, (prompts, 77))
    return torch_flops(lambda: text_model(input_ids=ids).pooler_output.sum().backward()) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="B/16", help="CLIP shapes; tiny for a smoke run")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--alt_batches", default="8,2")
    parser.add_argument("--xclip_batches", default="2", help="8 needs ~10 GB and ~2 min a step")
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "train_step_peers.json"))
    args = parser.parse_args()
    record = run_record(args)
    common = {"preset": args.preset, "frames": args.frames, "classes": args.classes}
    here = "benchmarks.train_step_peers"
    contenders = {}
    for b in (int(x) for x in args.alt_batches.split(",") if x):
        contenders[f"alt_b{b}"] = (
            f"{here}:alt_train_contender",
            {**common, "batch": b, "r": args.r},
        )
    for b in (int(x) for x in args.xclip_batches.split(",") if x):
        contenders[f"xclip_b{b}"] = (f"{here}:xclip_train_contender", {**common, "batch": b})
    results = race(contenders, rounds=args.rounds)
    xclip = next((n for n in results if n.startswith("xclip")), None)
    rows = []
    for name, res in results.items():
        info = res["info"]
        per_clip = [t / info["batch"] for t in res["seconds"]]
        row = {
            "name": name,
            **info,
            "seconds_per_step": res["seconds"],
            "time_s": res["time_s"],
            "seconds_per_clip": spread(per_clip),
            "gflops_per_clip": info["gflops_per_step"] / info["batch"],
            "peak_rss_mib": res["peak_rss_mib"],
            "rss_after_imports_mib": res["rss_after_imports_mib"],
            "build_seconds": res["build_seconds"],
        }
        if xclip:  # per clip, within each round
            base = results[xclip]
            base_per_clip = [t / base["info"]["batch"] for t in base["seconds"]]
            row["speed_vs_xclip_per_clip"] = round_ratios(base_per_clip, per_clip)
        rows.append(row)
    print("| contender | batch | step (s) | clips/s | GFLOPs/clip | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['batch']} | {row['time_s']['median']:.2f} "
            f"| {row['batch'] / row['time_s']['median']:.3f} "
            f"| {row['gflops_per_clip']:.0f} | {row['peak_rss_mib']:.0f} |"
        )
    write_result(args.out, {**record, "rows": rows})


if __name__ == "__main__":
    main()
