import numpy as np
import pytest

from frametool.framegrid import FrameGrid


def test_round_trip_frames_and_seconds():
    grid = FrameGrid(0.02, 100, offset_s=1.0)
    k = np.arange(100)
    assert np.array_equal(grid.frame_of(grid.start_s(k)), k)
    assert np.array_equal(grid.frame_of(grid.center_s(k)), k)
    assert np.allclose(grid.time_of(grid.fractional(np.array([1.013, 2.5]))), [1.013, 2.5])


def test_frame_of_clips_and_returns_int_for_scalar():
    grid = FrameGrid(0.04, 10)
    assert grid.frame_of(-1.0) == 0
    assert grid.frame_of(99.0) == 9
    assert isinstance(grid.frame_of(0.05), int) and grid.frame_of(0.05) == 1


@pytest.mark.parametrize("duration_s,expected", [(1.0, 50), (1.001, 51), (0.0001, 1)])
def test_covering(duration_s, expected):
    assert FrameGrid.covering(duration_s, 0.02).num_frames == expected
