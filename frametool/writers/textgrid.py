"""Praat TextGrid (long format) through praatio: interval tiers, silences as empty intervals."""
from __future__ import annotations

from praatio import textgrid
from praatio.utilities.constants import Interval

from frametool.annotation import Annotation, Tier

_MIN_WIDTH_S = 1e-4


def _entries(tier: Tier, duration_s: float) -> list[Interval]:
    """Ordered, non-overlapping intervals of at least _MIN_WIDTH_S inside [0, duration_s]: words squeezed
    against the end of the file are pushed back, so a TextGrid can always be written."""
    starts = [float(i.start_s) for i in tier.items]
    ends = [float(i.end_s) for i in tier.items]
    floor = 0.0
    for i in range(len(starts)):  # forward: order and minimum width
        starts[i] = max(starts[i], floor)
        ends[i] = max(ends[i], starts[i] + _MIN_WIDTH_S)
        floor = ends[i]
    ceiling = duration_s
    for i in reversed(range(len(starts))):  # backward: stay inside the file
        ends[i] = min(ends[i], ceiling)
        starts[i] = max(0.0, min(starts[i], ends[i] - _MIN_WIDTH_S))
        ceiling = starts[i]
    entries = []
    for item, start, end in zip(tier.items, starts, ends):
        entries.append(Interval(min(round(start, 6), duration_s), min(round(end, 6), duration_s), item.label))
    return entries


def to_textgrid(annotation: Annotation, *, confidence_tier: bool = False) -> textgrid.Textgrid:
    grid = textgrid.Textgrid(0.0, annotation.duration_s)
    for tier in annotation.tiers:
        entries = _entries(tier, annotation.duration_s)
        grid.addTier(textgrid.IntervalTier(tier.name, entries, 0.0, annotation.duration_s))
        if confidence_tier:
            labels = [Interval(e.start, e.end, f"{item.confidence:.3f}")
                      for e, item in zip(entries, tier.items) if item.confidence is not None]
            grid.addTier(textgrid.IntervalTier(f"{tier.name} - confidence", labels, 0.0,
                                               annotation.duration_s))
    return grid


def render(annotation: Annotation, *, confidence_tier: bool = False) -> str:
    """The TextGrid file's text (long format; empty intervals fill the silences)."""
    return _save_to_text(to_textgrid(annotation, confidence_tier=confidence_tier))


def _save_to_text(grid: textgrid.Textgrid) -> str:
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.TextGrid")
        grid.save(path, format="long_textgrid", includeBlankSpaces=True)
        with open(path, encoding="utf-8") as handle:
            return handle.read()
