"""The command-line tools, installed as console scripts (pyproject.toml, [project.scripts]).

| console script | module | in a clone, also |
|---|---|---|
| alt-jax-train | alt_jax.main (`run`) | python -m alt_jax.main |
| alt-jax-predict | alt_jax.predict | python -m alt_jax.predict |
| alt-jax-export | alt_jax.cli.convert_to_pytorch | python tools/convert_to_pytorch.py |
| alt-jax-visualize | alt_jax.cli.visualize_alignment | python tools/visualize_alignment.py |
| alt-jax-corpus | alt_jax.cli.build_corpus | python tools/build_corpus.py |
| alt-jax-synthetic | alt_jax.cli.make_synthetic | python tools/make_synthetic.py |
| alt-jax-prepare | alt_jax.cli.prepare_dataset | python tools/prepare_dataset.py |
| alt-jax-splits | alt_jax.cli.make_splits | python tools/make_splits.py |
| alt-jax-regions | alt_jax.cli.draw_tome_regions | python tools/draw_tome_regions.py |
| alt-jax-pretrain-clip | alt_jax.cli.pretrain_clip | python tools/pretrain_clip.py |
| alt-jax-parity | alt_jax.cli.clip_parity | python tools/clip_parity.py |

Every module here runs as `python -m alt_jax.cli.NAME` too; `tools/NAME.py` in the repository
is a thin file that calls the same `main`.
"""
