"""Align before Adapt (ALT, CVPR 2024) for video action recognition in JAX/Flax."""
