"""`frametool bench accuracy`: word-boundary accuracy of frametool (and a peer) against references.

References are Praat TextGrids with a `words` tier (silences empty), found mirrored under --reference
or next to the audio. A `manifest.jsonl` in the corpus may give each utterance's `set` and
`score_first_onset`. Wall time counts the aligners' work only (features, model, decoding), not file I/O.
Where a system gives credible intervals (frametool's 90 % intervals), `on CI` is the share of scored reference
onsets inside the onset's interval widened by CI_MARGIN_S each side (references sit on a 10 ms grid): a
calibrated 90 % interval holds about 90 %.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from praatio import textgrid

from frametool.audio.io import load_audio
from frametool.bench.metrics import boundary_stats, word_errors
from frametool.errors import UsageError
from frametool.tasks.align import AlignRequest
from frametool.tasks.long import align_recordings
from frametool.tasks.corpus import discover, read_transcript


@dataclass
class Utterance:
    audio: Path
    set_name: str
    tokens: list
    reference: list[tuple[float, float]]
    score_first_onset: bool
    samples: np.ndarray
    label_origin: str = ""  # who made the reference (manifest `label_origin`: human, mfa, pocketsphinx, ...)


@dataclass
class SystemResult:
    onsets: dict[str, list[np.ndarray]] = field(default_factory=dict)
    offsets: dict[str, list[np.ndarray]] = field(default_factory=dict)
    aligned: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    scored: dict[Path, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # per audio file
    covered: dict[str, list[np.ndarray]] = field(default_factory=dict)  # onsets inside their credible interval


def read_reference(path: Path) -> list[tuple[str, float, float]]:
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    name = "words" if "words" in grid.tierNames else grid.tierNames[0]
    return [(e.label, e.start, e.end) for e in grid.getTier(name).entries if e.label.strip()]


def load_utterances(corpus: Path, reference: Path | None) -> list[Utterance]:
    manifest = {}
    if (corpus / "manifest.jsonl").exists():
        for line in (corpus / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                manifest[Path(row["audio"]).with_suffix("").as_posix()] = row
    utterances = []
    for item in discover(str(corpus)):
        ref_root = reference or corpus
        ref_path = ref_root / item.relative.parent / (item.relative.name + ".TextGrid")
        if not ref_path.exists():
            continue
        row = manifest.get(item.relative.as_posix(), {})
        tokens = read_transcript(item)
        utterances.append(Utterance(item.audio, row.get("set", corpus.name), tokens,
                                    [(a, b) for _, a, b in read_reference(ref_path)],
                                    bool(row.get("score_first_onset", True)), load_audio(item.audio).samples,
                                    str(row.get("label_origin", ""))))
    if not utterances:
        raise UsageError(f"no utterance of {corpus} has a reference TextGrid"
                         f"{' under ' + str(reference) if reference else ''}")
    return utterances


def _score(result: SystemResult, utt: Utterance, spans, start_ci_s: np.ndarray | None = None) -> None:
    result.aligned[utt.set_name] = result.aligned.get(utt.set_name, 0) + (spans is not None)
    if spans is None or len(spans) != len(utt.reference):
        return
    if start_ci_s is not None:
        result.covered.setdefault(utt.set_name, []).append(onset_coverage(start_ci_s, utt))
    on, off = word_errors(spans, utt.reference, utt.score_first_onset)
    result.onsets.setdefault(utt.set_name, []).append(on)
    result.offsets.setdefault(utt.set_name, []).append(off)
    result.scored[utt.audio] = (on, off)


SHARED, SHARED_INDEPENDENT = "shared", "shared-ind"
CI_MARGIN_S = 0.010


def onset_coverage(start_ci_s: np.ndarray, utt: Utterance) -> np.ndarray:
    """(W, 2) onset intervals -> per scored reference onset, whether it lies inside (widened by CI_MARGIN_S)."""
    ref = np.asarray([a for a, _ in utt.reference], dtype=np.float64)
    ci = np.asarray(start_ci_s, dtype=np.float64).reshape(-1, 2)
    inside = (ref >= ci[:, 0] - CI_MARGIN_S - 1e-9) & (ref <= ci[:, 1] + CI_MARGIN_S + 1e-9)
    return inside if utt.score_first_onset else inside[1:]


def _coverage(parts: list[np.ndarray]) -> float | None:
    joined = np.concatenate(parts) if parts else np.zeros(0)
    return round(100 * float(joined.mean()), 2) if joined.size else None


@dataclass
class AccuracyReport:
    systems: dict[str, SystemResult]
    totals: dict[str, int]
    audio_s: float
    label_origins: dict[Path, str] = field(default_factory=dict)

    def _shared_rows(self) -> list[dict]:
        """With a peer: every system on the same files (those all of them aligned), and on those of them whose
        reference no system under test made itself (a reference made by pocketsphinx scores pocketsphinx
        against its own output)."""
        if len(self.systems) < 2:
            return []
        files = set.intersection(*(set(r.scored) for r in self.systems.values()))
        independent = {f for f in files if self.label_origins.get(f, "") not in self.systems}
        rows = []
        for name, result in self.systems.items():
            for set_name, chosen in ((SHARED, files), (SHARED_INDEPENDENT, independent)):
                picked = [result.scored[f] for f in sorted(chosen)]
                on = boundary_stats(np.concatenate([p[0] for p in picked] or [np.zeros(0)]))
                off = boundary_stats(np.concatenate([p[1] for p in picked] or [np.zeros(0)]))
                rows.append({"system": name, "set": set_name, "aligned": len(chosen), "total": len(chosen),
                             "onset": on.as_dict(), "offset": off.as_dict(),
                             "aas_ms": round((on.mae_s + off.mae_s) / 2 * 1000, 2), "wall_s": None,
                             "onset_ci_coverage": None})
        return rows

    def rows(self) -> list[dict]:
        rows = []
        for name, result in self.systems.items():
            for set_name in sorted(self.totals) + ["overall"]:
                pick = (lambda d: [x for v in d.values() for x in v]) if set_name == "overall" \
                    else (lambda d: d.get(set_name, []))
                on = boundary_stats(np.concatenate(pick(result.onsets) or [np.zeros(0)]))
                off = boundary_stats(np.concatenate(pick(result.offsets) or [np.zeros(0)]))
                aligned = sum(result.aligned.values()) if set_name == "overall" else result.aligned.get(set_name, 0)
                total = sum(self.totals.values()) if set_name == "overall" else self.totals[set_name]
                rows.append({"system": name, "set": set_name, "aligned": aligned, "total": total,
                             "onset": on.as_dict(), "offset": off.as_dict(),
                             "aas_ms": round((on.mae_s + off.mae_s) / 2 * 1000, 2),
                             "wall_s": round(result.wall_s, 3) if set_name == "overall" else None,
                             "onset_ci_coverage": _coverage(pick(result.covered))})
        shared = self._shared_rows()
        return [r for name in self.systems for r in rows + shared if r["system"] == name]

    def as_dict(self) -> dict:
        return {"audio_s": round(self.audio_s, 2), "rows": self.rows()}

    def table(self) -> str:
        head = (f"{'system':<13}{'set':<11}{'aligned':>9}{'on MAE':>9}{'off MAE':>9}{'AAS':>8}"
                f"{'on<10':>7}{'on<20':>7}{'on<25':>7}{'on<40':>7}{'on<50':>7}{'on<100':>8}{'off<20':>8}{'off<50':>8}{'wall s':>8}{'on CI':>7}")
        lines = [head, "-" * len(head)]
        for r in self.rows():
            on, off = r["onset"], r["offset"]
            lines.append(f"{r['system']:<13}{r['set']:<11}{str(r['aligned']) + '/' + str(r['total']):>9}"
                         f"{on['mae_ms']:>9.1f}{off['mae_ms']:>9.1f}{r['aas_ms']:>8.1f}"
                         f"{on['within_10ms']:>7.1f}{on['within_20ms']:>7.1f}{on['within_25ms']:>7.1f}{on['within_40ms']:>7.1f}"
                         f"{on['within_50ms']:>7.1f}{on['within_100ms']:>8.1f}{off['within_20ms']:>8.1f}"
                         f"{off['within_50ms']:>8.1f}{(r['wall_s'] if r['wall_s'] is not None else float('nan')):>8.2f}"
                         f"{(r['onset_ci_coverage'] if r['onset_ci_coverage'] is not None else float('nan')):>7.1f}")
        lines.append(f"MAE in ms, within-X in % of scored boundaries; audio {self.audio_s:.1f} s; "
                     "times are interval boundaries in seconds from the file start; on CI: % of reference onsets "
                     f"inside the 90 % credible interval widened by {CI_MARGIN_S * 1000:.0f} ms each side.")
        if len(self.systems) > 1:
            lines.append(f"{SHARED}: only the files every system aligned; {SHARED_INDEPENDENT}: of those, the ones "
                         "whose reference none of these systems made itself.")
        return "\n".join(lines)


def run_accuracy(corpus: Path, reference: Path | None, model_name: str, peer: str | None,
                 decode: str = "median", batch_size: int = 1) -> AccuracyReport:
    from frametool.model import load_model

    utterances = sorted(load_utterances(corpus, reference), key=lambda u: len(u.samples))
    model = load_model(model_name)
    ours = SystemResult()
    for start in range(0, len(utterances), batch_size):
        chunk = utterances[start:start + batch_size]
        began = time.perf_counter()
        results = align_recordings(model, [AlignRequest(u.samples, u.tokens) for u in chunk], decode, batch_size)
        ours.wall_s += time.perf_counter() - began
        for utt, times in zip(chunk, results):
            _score(ours, utt, list(zip(times.start_s, times.end_s)), times.start_ci_s)
    systems = {"frametool": ours}
    if peer == "pocketsphinx":
        from frametool.bench.peers import PocketsphinxAligner

        aligner = PocketsphinxAligner()
        theirs = SystemResult()
        for utt in utterances:
            words = [t.text.lower() for t in utt.tokens]
            began = time.perf_counter()
            spans = aligner.align(utt.samples, words)
            theirs.wall_s += time.perf_counter() - began
            _score(theirs, utt, spans)
        systems[peer] = theirs
    totals: dict[str, int] = {}
    for utt in utterances:
        totals[utt.set_name] = totals.get(utt.set_name, 0) + 1
    return AccuracyReport(systems, totals, sum(len(u.samples) / 16000 for u in utterances),
                          {u.audio: u.label_origin for u in utterances})
