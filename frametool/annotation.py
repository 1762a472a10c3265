"""What a task produces and a writer consumes: tiers of labelled intervals, in seconds."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One labelled interval (a word, a speaker turn, an event)."""

    label: str
    start_s: float
    end_s: float
    start_ci_s: tuple[float, float] | None = None  # 90 % credible interval of the start
    end_ci_s: tuple[float, float] | None = None
    confidence: float | None = None
    flags: tuple[str, ...] = ()  # e.g. ("long",) for implausible results


@dataclass(frozen=True)
class Tier:
    name: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Annotation:
    """Everything frametool says about one audio file."""

    file: str
    duration_s: float
    model: str
    task: str
    tiers: tuple[Tier, ...]
    meta: dict = field(default_factory=dict)

    def tier(self, name: str) -> Tier:
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(name)
