"""Writes one of each kind of unreadable video file, for the bad-input tests."""

from __future__ import annotations

import os


def write_bad_videos(folder: str, good_mp4: str) -> dict[str, str]:
  """One of each kind of unreadable video, derived from a good mp4; returns kind → path."""
  with open(good_mp4, "rb") as f:
    data = f.read()
  # PyAV writes the moov index after the media data: cutting the file in half loses it.
  assert data.find(b"moov") > data.find(b"mdat")
  paths = {kind: os.path.join(folder, f"{kind}.mp4")
           for kind in ("missing", "empty", "truncated", "text", "codec")}
  open(paths["empty"], "wb").close()
  with open(paths["truncated"], "wb") as f:
    f.write(data[:len(data) // 2])
  with open(paths["text"], "w", encoding="utf-8") as f:
    f.write("not a video, just text\n")
  with open(paths["codec"], "wb") as f:
    # An unknown sample-entry fourcc: the container parses, no decoder exists for the stream.
    f.write(data.replace(b"avc1", b"zzzz"))
  return paths
