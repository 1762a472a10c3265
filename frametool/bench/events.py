"""Scoring of detected events against reference events (one scorer for `bench events`, training's dev
score and benchmarks/birdsong.py).

- Onset (offset) accuracy at a tolerance: reference onsets matched one-to-one to hypothesis onsets of the
  same label within the tolerance (an optimal assignment, scipy's linear_sum_assignment), as a share of the
  reference events.
- Event F1 with an onset collar: precision and recall of that matching, label-agnostic (any label matches
  any) and per label.
- Syllable error rate: the edit distance between the label sequences of reference and hypothesis inside
  each scored region (in onset order), summed, over the number of reference events.
Only the scored regions count (bird song: the annotated song bouts; elsewhere the whole file): a reference
or hypothesis event is in a region when its midpoint is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOLERANCES_S = (0.01, 0.02, 0.05, 0.2)


@dataclass(frozen=True)
class Event:
    label: str
    start_s: float
    end_s: float
    start_ci_s: tuple[float, float] | None = None  # a detector's 90 % credible interval of the onset


def in_regions(events: list[Event], regions: list[tuple[float, float]] | None) -> list[list[Event]]:
    """Events grouped by the region holding their midpoint (one group for the whole file without regions),
    each group in onset order; events outside every region are dropped."""
    ordered = sorted(events, key=lambda e: (e.start_s, e.end_s))
    if not regions:
        return [ordered]
    groups: list[list[Event]] = [[] for _ in regions]
    for e in ordered:
        mid = 0.5 * (e.start_s + e.end_s)
        for g, (a, b) in enumerate(regions):
            if a <= mid < b or (g == len(regions) - 1 and mid == b):
                groups[g].append(e)
                break
    return groups


def matched_pairs(ref: np.ndarray, hyp: np.ndarray, tolerance_s: float) -> list[tuple[int, int]]:
    """Most one-to-one pairs (i, j) with |ref_i - hyp_j| <= tolerance, and among those the closest."""
    from scipy.optimize import linear_sum_assignment

    if not len(ref) or not len(hyp):
        return []
    distance = np.abs(np.asarray(ref)[:, None] - np.asarray(hyp)[None, :])
    allowed = distance <= tolerance_s + 1e-9
    if not allowed.any():
        return []
    # maximise the number of pairs first, then minimise their total distance
    cost = np.where(allowed, distance / (tolerance_s + 1e-9) - len(ref) - len(hyp), 0.0)
    rows, cols = linear_sum_assignment(cost)
    return [(int(i), int(j)) for i, j in zip(rows, cols) if allowed[i, j]]


def edit_distance(a: list[str], b: list[str]) -> int:
    row = np.arange(len(b) + 1)
    for i, x in enumerate(a, 1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        for j, y in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y))
    return int(row[-1])


@dataclass
class EventCounts:
    """Sums over files; rates come from the properties."""

    n_ref: int = 0
    n_hyp: int = 0
    onset_hits: dict[float, int] = field(default_factory=dict)  # label-agnostic matches per tolerance
    offset_hits: dict[float, int] = field(default_factory=dict)
    labelled_hits: dict[float, int] = field(default_factory=dict)  # matches of the same label
    edits: int = 0
    per_label: dict[str, list[int]] = field(default_factory=dict)  # label -> [n_ref, n_hyp, hits at 200 ms]
    ci_matched: int = 0  # onsets matched within 50 ms whose detection has a credible interval
    ci_inside: int = 0  # ... whose interval holds the reference onset

    def add(self, other: "EventCounts") -> None:
        self.n_ref += other.n_ref
        self.n_hyp += other.n_hyp
        self.edits += other.edits
        self.ci_matched += other.ci_matched
        self.ci_inside += other.ci_inside
        for mine, theirs in ((self.onset_hits, other.onset_hits), (self.offset_hits, other.offset_hits),
                             (self.labelled_hits, other.labelled_hits)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v
        for label, (r, h, m) in other.per_label.items():
            mine = self.per_label.setdefault(label, [0, 0, 0])
            mine[0] += r
            mine[1] += h
            mine[2] += m

    def f1(self, tolerance_s: float, labelled: bool = False) -> float:
        hits = (self.labelled_hits if labelled else self.onset_hits).get(tolerance_s, 0)
        return 2 * hits / (self.n_ref + self.n_hyp) if self.n_ref + self.n_hyp else 1.0

    def onset_accuracy(self, tolerance_s: float) -> float:
        return self.onset_hits.get(tolerance_s, 0) / self.n_ref if self.n_ref else float("nan")

    def offset_accuracy(self, tolerance_s: float) -> float:
        return self.offset_hits.get(tolerance_s, 0) / self.n_ref if self.n_ref else float("nan")

    @property
    def syllable_error_rate(self) -> float:
        return self.edits / self.n_ref if self.n_ref else float("nan")

    def label_f1(self, label: str) -> float:
        r, h, m = self.per_label.get(label, [0, 0, 0])
        return 2 * m / (r + h) if r + h else float("nan")

    def summary(self) -> dict:
        out = {"n_reference": self.n_ref, "n_detected": self.n_hyp,
               "syllable_error_rate": round(self.syllable_error_rate, 4)}
        for tol in TOLERANCES_S:
            ms = int(round(tol * 1000))
            out[f"onset_f1_{ms}ms"] = round(self.f1(tol), 4)
            out[f"onset_within_{ms}ms"] = round(self.onset_accuracy(tol), 4)
            out[f"offset_within_{ms}ms"] = round(self.offset_accuracy(tol), 4)
            out[f"labelled_f1_{ms}ms"] = round(self.f1(tol, labelled=True), 4)
        out["onsets_inside_ci"] = round(self.ci_inside / self.ci_matched, 4) if self.ci_matched else None
        out["per_label_f1_200ms"] = {k: round(self.label_f1(k), 4) for k in sorted(self.per_label)}
        return out


def score_file(reference: list[Event], detected: list[Event], regions: list[tuple[float, float]] | None = None
               ) -> EventCounts:
    counts = EventCounts()
    ref_groups, hyp_groups = in_regions(reference, regions), in_regions(detected, regions)
    refs = [e for g in ref_groups for e in g]
    hyps = [e for g in hyp_groups for e in g]
    counts.n_ref, counts.n_hyp = len(refs), len(hyps)
    counts.edits = sum(edit_distance([e.label for e in r], [e.label for e in h])
                       for r, h in zip(ref_groups, hyp_groups))
    ref_on = np.array([e.start_s for e in refs])
    hyp_on = np.array([e.start_s for e in hyps])
    for i, j in matched_pairs(ref_on, hyp_on, 0.05):
        if hyps[j].start_ci_s is not None:
            counts.ci_matched += 1
            counts.ci_inside += hyps[j].start_ci_s[0] <= refs[i].start_s <= hyps[j].start_ci_s[1]
    for tol in TOLERANCES_S:
        pairs = matched_pairs(ref_on, hyp_on, tol)
        counts.onset_hits[tol] = len(pairs)
        counts.offset_hits[tol] = sum(abs(refs[i].end_s - hyps[j].end_s) <= tol + 1e-9 for i, j in pairs)
        counts.labelled_hits[tol] = sum(_same_label_matches(refs, hyps, tol, label)
                                        for label in {e.label for e in refs})
    for label in {e.label for e in refs} | {e.label for e in hyps}:
        counts.per_label[label] = [sum(e.label == label for e in refs), sum(e.label == label for e in hyps),
                                   _same_label_matches(refs, hyps, 0.2, label)]
    return counts


def _same_label_matches(refs: list[Event], hyps: list[Event], tol: float, label: str) -> int:
    r = np.array([e.start_s for e in refs if e.label == label])
    h = np.array([e.start_s for e in hyps if e.label == label])
    return len(matched_pairs(r, h, tol))


def read_event_table(path) -> list[Event]:
    """`onset<TAB>offset<TAB>label` lines (seconds, no header), as in the reference folders."""
    from frametool.errors import InputError

    events = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise InputError(path, f"line {n}: expected onset<TAB>offset<TAB>label, got {line!r}")
        try:
            start, end = float(parts[0]), float(parts[1])
        except ValueError:
            raise InputError(path, f"line {n}: onset and offset must be numbers, got {line!r}") from None
        if end < start:
            raise InputError(path, f"line {n}: offset {end} is before onset {start}")
        events.append(Event(parts[2].strip(), start, end))
    return events


# --- `frametool bench events` -----------------------------------------------------------------------------

@dataclass
class EventsReport:
    systems: dict[str, EventCounts]
    per_file: dict[str, dict[str, EventCounts]]
    wall_s: dict[str, float]
    audio_s: float
    baseline_params: object | None = None  # the energy baseline's EnergyParams

    def as_dict(self) -> dict:
        out = {name: {**counts.summary(), "wall_s": round(self.wall_s[name], 3),
                      "real_time_factor": round(self.wall_s[name] / self.audio_s, 5) if self.audio_s else None}
               for name, counts in self.systems.items()}
        if self.baseline_params is not None:
            out["baseline_params"] = self.baseline_params.__dict__
        return out

    def file_table(self) -> str:
        names = list(self.systems)
        lines = ["| file | reference events | " + " | ".join(f"{n} onset F1 @200 ms" for n in names) + " |",
                 "|---|---|" + "---|" * len(names)]
        for file, systems in self.per_file.items():
            first = next(iter(systems.values()))
            lines.append(f"| {file} | {first.n_ref} | " + " | ".join(f"{systems[n].f1(0.2):.3f}" for n in names)
                         + " |")
        return "\n".join(lines)

    def table(self) -> str:
        names = list(self.systems)
        lines = ["Events: onsets and offsets matched one-to-one within the tolerance; F1 label-agnostic unless "
                 "'labelled'; SER = label edit distance / reference events; scored inside the annotated regions.",
                 "", "| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        rows = [("reference events", lambda c: str(c.n_ref)), ("detected events", lambda c: str(c.n_hyp))]
        for tol in TOLERANCES_S:
            ms = int(round(tol * 1000))
            rows.append((f"onset F1 @{ms} ms", lambda c, t=tol: f"{c.f1(t):.4f}"))
        for tol in TOLERANCES_S:
            ms = int(round(tol * 1000))
            rows.append((f"onsets within {ms} ms", lambda c, t=tol: f"{100 * c.onset_accuracy(t):.1f} %"))
        for tol in TOLERANCES_S:
            ms = int(round(tol * 1000))
            rows.append((f"offsets within {ms} ms", lambda c, t=tol: f"{100 * c.offset_accuracy(t):.1f} %"))
        rows.append(("labelled F1 @20 ms", lambda c: f"{c.f1(0.02, labelled=True):.4f}"))
        rows.append(("syllable error rate", lambda c: f"{100 * c.syllable_error_rate:.2f} %"))
        rows.append(("onsets inside the 90 % interval", lambda c: f"{100 * c.ci_inside / c.ci_matched:.1f} %"
                     if c.ci_matched else "-"))
        for label, fn in rows:
            lines.append(f"| {label} | " + " | ".join(fn(self.systems[n]) for n in names) + " |")
        lines.append("| wall s | " + " | ".join(f"{self.wall_s[n]:.2f}" for n in names) + " |")
        labels = sorted({lab for c in self.systems.values() for lab in c.per_label})
        if labels:
            lines.append("")
            lines.append("| label F1 @200 ms (labelled) | " + " | ".join(names) + " |")
            lines.append("|---|" + "---|" * len(names))
            for lab in labels:
                lines.append(f"| {lab} | " + " | ".join(f"{self.systems[n].label_f1(lab):.3f}" for n in names) + " |")
        return "\n".join(lines)


def reference_regions(reference: Path) -> dict[str, list[tuple[float, float]]]:
    """Annotated regions per id from a reference folder's manifest.jsonl (`annotated_sequences`)."""
    import json

    manifest = reference / "manifest.jsonl"
    out: dict[str, list[tuple[float, float]]] = {}
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("annotated_sequences"):
                    out[str(row["id"])] = [(float(a), float(b)) for a, b in row["annotated_sequences"]]
    return out


def reference_events(reference: Path, relative: Path) -> tuple[list[Event], list[tuple[float, float]] | None] | None:
    """The reference events of one recording (`<stem>.tsv`, or the speech regions of `<stem>.rttm`) and the
    regions its `<stem>.uem` scores (None: the manifest's or the whole file); None without a reference."""
    from frametool.bench.vad import read_rttm_speech, read_uem

    base = reference / relative.parent / relative.stem
    uem = base.with_suffix(".uem")
    regions = read_uem(uem) if uem.is_file() else None
    if base.with_suffix(".tsv").is_file():
        return read_event_table(base.with_suffix(".tsv")), regions
    if base.with_suffix(".rttm").is_file():
        return read_rttm_speech(base.with_suffix(".rttm")), regions
    return None


PEERS = ("silero-vad",)


def run_events_bench(corpus, reference, model: str | None, baseline_train=None, labels=None,
                     peer: str | None = None) -> EventsReport:
    """Score `model`, the energy baseline fitted on `baseline_train` (an event manifest) and `peer` on every
    audio file of `corpus` that has a reference in `reference`: `<stem>.tsv`, or `<stem>.rttm` whose
    speakers' turns together are the `speech` events (a diarization reference; `<stem>.uem` limits the
    scoring to its regions)."""
    import time

    from frametool.audio.io import load_audio
    from frametool.errors import UsageError
    from frametool.tasks.corpus import discover

    reference = Path(reference)
    if not reference.is_dir():
        raise UsageError(f"--reference {reference} is not a folder")
    if peer is not None and peer not in PEERS:
        raise UsageError(f"--peer must be one of {', '.join(PEERS)}, not {peer!r}")
    found = [(it, reference_events(reference, it.relative)) for it in discover(str(corpus))]
    items = [(it, ref) for it, ref in found if ref is not None]
    if not items:
        raise UsageError(f"no audio file of {corpus} has a reference <stem>.tsv or <stem>.rttm in {reference}")
    regions = reference_regions(reference)
    systems: dict[str, object] = {}
    params = None
    if model:
        from frametool.tasks.events import detect, load_event_model

        loaded = load_event_model(model)
        systems["frametool"] = lambda samples: [Event(it.label, it.start_s, it.end_s, it.start_ci_s)
                                                for it in detect(loaded, samples, labels)]
    if baseline_train:
        from frametool.bench.energy import EnergyBaseline
        from frametool.training.events_train import load_recordings

        baseline = EnergyBaseline().fit(load_recordings(Path(baseline_train)))
        params = baseline.params
        systems["energy baseline"] = baseline.detect
    if peer == "silero-vad":
        from frametool.bench.vad import SileroSpeech

        systems[SileroSpeech.name] = SileroSpeech()
    if not systems:
        raise UsageError("nothing to score: give --model, --baseline-train and/or --peer")
    counts = {name: EventCounts() for name in systems}
    per_file: dict[str, dict[str, EventCounts]] = {}
    wall = {name: 0.0 for name in systems}
    audio_s = 0.0
    for it, (ref, uem) in items:
        wave = load_audio(it.audio)
        audio_s += wave.duration_s
        if labels:
            ref = [e for e in ref if e.label in labels]
        per_file[str(it.relative)] = {}
        for name, run in systems.items():
            started = time.perf_counter()
            hyp = run(wave.samples)
            wall[name] += time.perf_counter() - started
            scored = score_file(ref, hyp, uem if uem is not None else regions.get(it.audio.stem))
            counts[name].add(scored)
            per_file[str(it.relative)][name] = scored
    return EventsReport(counts, per_file, wall, audio_s, params)
