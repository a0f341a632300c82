"""Pictures of token-merging regions on frames (NumPy + Pillow, no plotting library)."""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw


def patch_regions(dest: np.ndarray, grid_h: int, grid_w: int) -> np.ndarray:
    """dest [1 + gh*gw] (input token → region, token 0 = class) → region id per patch [gh, gw]."""
    dest = np.asarray(dest)
    if dest.shape != (1 + grid_h * grid_w,):
        raise ValueError(f"dest has shape {dest.shape}, expected ({1 + grid_h * grid_w},)")
    return dest[1:].reshape(grid_h, grid_w)


def distinct_colors(n: int, seed: int = 0) -> np.ndarray:
    """n well-separated RGB colours uint8 [n, 3] (golden-ratio hues, shuffled by seed)."""
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    rng = np.random.default_rng(seed)
    sat = 0.55 + 0.4 * rng.random(n)
    val = 0.75 + 0.25 * rng.random(n)
    rgb = [colorsys.hsv_to_rgb(h, s, v) for h, s, v in zip(hues, sat, val, strict=True)]
    return (np.array(rgb) * 255).astype(np.uint8).reshape(n, 3)


def overlay_regions(
    frame: np.ndarray,
    region_of_patch: np.ndarray,
    colors: np.ndarray,
    alpha: float = 0.55,
    borders: bool = True,
) -> np.ndarray:
    """Fills each patch of `frame` [H, W, 3] with its region's colour, outlines region borders."""
    h, w = frame.shape[:2]
    gh, gw = region_of_patch.shape
    ph, pw = h // gh, w // gw
    fill = colors[region_of_patch].repeat(ph, 0).repeat(pw, 1)
    out = frame[: gh * ph, : gw * pw].astype(np.float32) * (1 - alpha) + fill * alpha
    out = out.astype(np.uint8)
    if borders:  # a dark line wherever neighbouring patches belong to different regions
        vertical = region_of_patch[:, 1:] != region_of_patch[:, :-1]
        horizontal = region_of_patch[1:, :] != region_of_patch[:-1, :]
        for i, j in zip(*np.nonzero(vertical), strict=True):
            out[i * ph : (i + 1) * ph, (j + 1) * pw - 1 : (j + 1) * pw + 1] = 0
        for i, j in zip(*np.nonzero(horizontal), strict=True):
            out[(i + 1) * ph - 1 : (i + 1) * ph + 1, j * pw : (j + 1) * pw] = 0
    return out


def legend(names: list[str], colors: np.ndarray, width: int, row_height: int = 16) -> np.ndarray:
    """A white strip with a colour swatch and a name per row, uint8 [rows*row_height, width, 3]."""
    image = Image.new("RGB", (width, max(1, len(names)) * row_height), "white")
    draw = ImageDraw.Draw(image)
    for row, (name, color) in enumerate(zip(names, colors, strict=True)):
        y = row * row_height
        draw.rectangle(
            [2, y + 2, row_height - 2, y + row_height - 2], fill=tuple(int(c) for c in color)
        )
        draw.text((row_height + 4, y + 2), name, fill="black")
    return np.asarray(image)


def alignment_tiles(
    frames: np.ndarray,
    entity_index: np.ndarray,
    dest: np.ndarray,
    entity_names: list[str],
    patch_size: int,
    alpha: float = 0.55,
) -> tuple[list[np.ndarray], tuple[list[str], np.ndarray]]:
    """Each frame [S, S, 3] with its ToMe regions filled in the colour of their aligned entity,
    and the legend's (names, colours [E, 3]) of the entities shown, in entity order.

    frames [T, S, S, 3] uint8; entity_index [T, M] (entity of region m + 1; the class token is
    not a region); dest [T, 1 + N] (region of each input token).
    """
    t, size = frames.shape[0], frames.shape[1]
    grid = size // patch_size
    used = sorted({int(e) for e in np.asarray(entity_index).ravel()})
    colors = distinct_colors(len(used))
    color_of = {e: colors[i] for i, e in enumerate(used)}
    tiles = []
    for f in range(t):
        regions = patch_regions(dest[f], grid, grid)  # region id per patch, 1..M (0 = class)
        entity_of_region = np.concatenate([[used[0]], np.asarray(entity_index[f])])
        palette = np.stack([color_of[int(e)] for e in entity_of_region])
        tiles.append(overlay_regions(frames[f], regions, palette, alpha=alpha, borders=True))
    names = [entity_names[e] if e < len(entity_names) else str(e) for e in used]
    return tiles, (names, colors)


def alignment_grid(
    frames: np.ndarray,
    entity_index: np.ndarray,
    dest: np.ndarray,
    entity_names: list[str],
    patch_size: int,
    alpha: float = 0.55,
    columns: int | None = None,
) -> np.ndarray:
    """The frames' `alignment_tiles` in rows of `columns` (default: one row) over a legend naming
    the entities shown, uint8 [rows·S + legend, columns·S, 3]; a short last row is padded white."""
    tiles, (names, colors) = alignment_tiles(
        frames, entity_index, dest, entity_names, patch_size, alpha
    )
    columns = columns or len(tiles)
    blank = np.full_like(tiles[0], 255)
    rows = [
        np.concatenate(
            [tiles[i] if i < len(tiles) else blank for i in range(r, r + columns)], axis=1
        )
        for r in range(0, len(tiles), columns)
    ]
    grid = np.concatenate(rows, axis=0)
    return np.concatenate([grid, legend(names, colors, grid.shape[1])], axis=0)


def alignment_animation(
    frames: np.ndarray,
    entity_index: np.ndarray,
    dest: np.ndarray,
    entity_names: list[str],
    patch_size: int,
    alpha: float = 0.55,
) -> list[np.ndarray]:
    """One picture per frame (its `alignment_tiles` tile over the shared legend), for a GIF."""
    tiles, (names, colors) = alignment_tiles(
        frames, entity_index, dest, entity_names, patch_size, alpha
    )
    # The legend is drawn at least 160 px wide so the names fit; narrow frames are centred.
    width = max(160, tiles[0].shape[1])
    strip = legend(names, colors, width)
    out = []
    for tile in tiles:
        canvas = np.full((tile.shape[0], width, 3), 255, np.uint8)
        left = (width - tile.shape[1]) // 2
        canvas[:, left : left + tile.shape[1]] = tile
        out.append(np.concatenate([canvas, strip], axis=0))
    return out


def write_png(picture: np.ndarray, path) -> None:
    """Writes uint8 [H, W, 3] as PNG to a local or gs:// path."""
    from etils import epath

    with epath.Path(path).open("wb") as f:  # PIL's own open() cannot write gs://
        Image.fromarray(picture).save(f, format="PNG")


def write_gif(pictures: list[np.ndarray], path, frame_ms: int = 400) -> None:
    """Writes same-sized uint8 pictures [H, W, 3] as a looping animated GIF."""
    from etils import epath

    images = [Image.fromarray(p) for p in pictures]
    with epath.Path(path).open("wb") as f:
        images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0
        )
