"""ALT in plain PyTorch (inference), converted from alt_jax checkpoints."""
