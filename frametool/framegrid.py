"""The one place where frame indices become seconds and back.

Frame k covers [offset_s + k*frame_shift_s, offset_s + (k+1)*frame_shift_s). Every other module asks a
FrameGrid; none multiplies by a frame shift itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameGrid:
    frame_shift_s: float
    num_frames: int
    offset_s: float = 0.0

    @classmethod
    def covering(cls, duration_s: float, frame_shift_s: float, offset_s: float = 0.0) -> "FrameGrid":
        """The grid of frames needed to cover `duration_s` seconds (last frame may be partial)."""
        return cls(frame_shift_s, max(1, math.ceil(duration_s / frame_shift_s - 1e-9)), offset_s)

    @property
    def duration_s(self) -> float:
        return self.num_frames * self.frame_shift_s

    def start_s(self, k):
        """Start time of frame(s) k (int or array)."""
        return self.offset_s + np.asarray(k) * self.frame_shift_s if not isinstance(k, int) \
            else self.offset_s + k * self.frame_shift_s

    def center_s(self, k):
        return self.start_s(k) + 0.5 * self.frame_shift_s

    def frame_of(self, t_s):
        """Index of the frame containing time t_s (int for a float, array for an array), clipped."""
        # a time on a frame boundary (up to float noise) belongs to the frame that starts there
        k = np.floor((np.asarray(t_s, dtype=np.float64) - self.offset_s) / self.frame_shift_s + 1e-9)
        k = np.clip(k, 0, self.num_frames - 1).astype(np.int64)
        return int(k) if np.ndim(k) == 0 else k

    def fractional(self, t_s):
        """Continuous frame coordinate of t_s: frame_of + position inside the frame in [0, 1)."""
        return (np.asarray(t_s, dtype=np.float64) - self.offset_s) / self.frame_shift_s

    def time_of(self, frame_coordinate):
        """Seconds at a continuous frame coordinate (inverse of `fractional`)."""
        return self.offset_s + np.asarray(frame_coordinate, dtype=np.float64) * self.frame_shift_s

    def shifted(self, offset_s: float) -> "FrameGrid":
        return FrameGrid(self.frame_shift_s, self.num_frames, offset_s)
