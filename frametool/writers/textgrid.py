"""Praat TextGrid (long format) through praatio: interval tiers, silences as empty intervals."""
from __future__ import annotations

from praatio import textgrid
from praatio.utilities.constants import Interval

from frametool.annotation import Annotation, Tier

_MIN_WIDTH_S = 1e-4


def _entries(tier: Tier, duration_s: float) -> list[Interval]:
    entries: list[Interval] = []
    last_end = 0.0
    for item in tier.items:
        start = min(max(item.start_s, last_end), duration_s)
        end = min(max(item.end_s, start + _MIN_WIDTH_S), duration_s)
        if end - start < _MIN_WIDTH_S:  # squeezed at the very end of the file
            start = max(last_end, end - _MIN_WIDTH_S)
        entries.append(Interval(round(start, 6), round(end, 6), item.label))
        last_end = end
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
