"""Writes a list of HxWx3 uint8 frames as a GIF or an MP4 (the `video` extra: imageio)."""
import importlib.util
import os

import numpy as np

FORMATS = ('.gif', '.mp4')
GIF_COLORS = 128


class VideoError(ValueError):
  """The video cannot be written: a bad file name or a missing package."""


def check_writable(path):
  """Raises a one-line VideoError unless `path` names a format whose writer is installed."""
  extension = os.path.splitext(path)[1].lower()
  if extension not in FORMATS:
    raise VideoError(f'--video={path}: the file name must end in '
                     f'{" or ".join(FORMATS)}.')
  if importlib.util.find_spec('imageio') is None:
    raise VideoError('writing a video needs imageio, which c_learning requires: '
                     'pip install imageio (or install c_learning again)')
  # imageio writes MP4 through its ffmpeg plugin, which needs the ffmpeg binary
  # that imageio-ffmpeg ships; GIFs need only Pillow, which imageio requires.
  if extension == '.mp4' and importlib.util.find_spec('imageio_ffmpeg') is None:
    raise VideoError(f'--video={path}: writing an MP4 needs imageio-ffmpeg: '
                     'pip install imageio-ffmpeg (or write a .gif).')


def write(path, frames, fps):
  """Writes `frames` to `path` (.gif or .mp4) at `fps` frames a second; returns the path.

  A GIF keeps a run of identical frames as one frame shown as long (Pillow
  merges them), and counts time in hundredths of a second: 50 fps at most.
  """
  check_writable(path)
  import imageio.v2  # pylint: disable=g-import-not-at-top
  import imageio.v3  # pylint: disable=g-import-not-at-top
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  frames = [np.asarray(frame, np.uint8) for frame in frames]
  if path.lower().endswith('.gif'):
    # imageio's Pillow plugin takes milliseconds a frame; loop=0 repeats forever.
    imageio.v3.imwrite(path, np.stack(_on_shared_palette(frames)), plugin='pillow',
                       extension='.gif', duration=1000.0 / fps, loop=0)
  else:
    imageio.v2.mimwrite(path, frames, format='FFMPEG', fps=fps)
  return path


def _on_shared_palette(frames, colors=GIF_COLORS):
  """`frames` with every pixel mapped to one palette of `colors` colors, without dithering.

  Pillow otherwise picks a palette a frame, so most pixels change between
  frames; on one palette a frame stores little more than what moved (two
  50-step sawyer_reach episodes at 240x320: 4.8 MB -> 0.43 MB).
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  # The palette comes from a few frames spread over the video, stacked into one image.
  samples = [frames[i] for i in np.linspace(0, len(frames) - 1, min(5, len(frames))).astype(int)]
  palette = Image.fromarray(np.concatenate(samples, axis=0)).quantize(
      colors, dither=Image.Dither.NONE)
  return [np.asarray(Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE)
                     .convert('RGB')) for frame in frames]
