"""`frametool bench accuracy --tier phones`: phone-onset accuracy against reference `phones` tiers.

Phone sets differ between dictionaries (and a reference may say a word another way), so both sequences are
folded to the 39 ARPAbet classes (stress dropped) and matched by edit distance over the whole utterance; only
phones the alignment pairs with an equal phone are "matched" and scored. Reported per set: the share of
reference phones matched, onset MAE and the share of matched onsets within 10/20/25/50 ms. A reference whose
first phone absorbed the leading silence (`score_first_onset: false` in its manifest) does not have that
onset scored. The peer is pocketsphinx's phone alignment (a second, phone-level pass after its word
alignment; words outside its dictionary get frametool's pronunciation).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from praatio import textgrid

from frametool.bench.metrics import boundary_stats
from frametool.errors import UsageError
from frametool.text.pronounce import Pronouncer, fold

SILENCES = {"", "sil", "sp", "spn", "<sil>", "pau"}


def read_phone_reference(path: Path) -> list[tuple[str, float, float]]:
    """A TextGrid's `phones` tier (silences left out); a file without one is an error naming it."""
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    if "phones" not in grid.tierNames:
        raise UsageError(f"reference {path} has no `phones` tier")
    return [(e.label, e.start, e.end) for e in grid.getTier("phones").entries
            if e.label.strip().lower() not in SILENCES]


def match_phones(ref: list[str], hyp: list[str]) -> list[tuple[int, int]]:
    """Edit-distance alignment of two phone sequences (folded to 39 classes) -> the (ref, hyp) index pairs
    of equal phones on one cheapest alignment."""
    a, b = [fold(p) for p in ref], [fold(p) for p in hyp]
    n, m = len(a), len(b)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if cost[i, j] == cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            if a[i - 1] == b[j - 1]:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


@dataclass
class PhoneUtterance:
    audio: Path
    set_name: str
    tokens: list
    reference: list[tuple[str, float, float]]
    score_first_onset: bool
    samples: np.ndarray


@dataclass
class PhoneResult:
    errors: dict[str, list[np.ndarray]] = field(default_factory=dict)  # per set, matched onset errors
    matched: dict[str, int] = field(default_factory=dict)
    reference: dict[str, int] = field(default_factory=dict)  # reference phones of aligned files
    aligned: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    scored: dict[Path, tuple[np.ndarray, int, int]] = field(default_factory=dict)

    def add(self, utt: PhoneUtterance, phones: list[tuple[str, float]] | None) -> None:
        s = utt.set_name
        self.aligned.setdefault(s, 0)
        if phones is None:
            return
        self.aligned[s] += 1
        pairs = match_phones([p for p, _, _ in utt.reference], [p for p, _ in phones])
        errors = np.asarray([phones[j][1] - utt.reference[i][1] for i, j in pairs
                             if utt.score_first_onset or i > 0], dtype=np.float64)
        self.errors.setdefault(s, []).append(errors)
        self.matched[s] = self.matched.get(s, 0) + len(pairs)
        self.reference[s] = self.reference.get(s, 0) + len(utt.reference)
        self.scored[utt.audio] = (errors, len(pairs), len(utt.reference))


def load_phone_utterances(corpus: Path, reference: Path | None) -> list[PhoneUtterance]:
    from frametool.audio.io import load_audio
    from frametool.tasks.corpus import discover, read_transcript

    ref_root = reference or corpus
    rows = {}
    for manifest in (corpus / "manifest.jsonl", ref_root / "manifest.jsonl"):  # the reference's own wins
        if manifest.exists():
            for line in manifest.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    key = Path(row.get("reference") or row["audio"]).with_suffix("").as_posix()
                    rows[key] = {**rows.get(key, {}), **row}
    out = []
    for item in discover(str(corpus)):
        ref_path = ref_root / item.relative.parent / (item.relative.name + ".TextGrid")
        if not ref_path.exists():
            continue
        try:
            ref = read_phone_reference(ref_path)
        except UsageError:
            if reference is None:  # a synthetic corpus whose references carry no phones for this file
                continue
            raise
        if not ref:
            continue
        row = rows.get(item.relative.as_posix(), {})
        out.append(PhoneUtterance(item.audio, row.get("set", corpus.name), read_transcript(item), ref,
                                  bool(row.get("score_first_onset", True)), load_audio(item.audio).samples))
    if not out:
        raise UsageError(f"no utterance of {corpus} has a reference `phones` tier"
                         f"{' under ' + str(reference) if reference else ''}")
    return out


@dataclass
class PhoneAccuracyReport:
    systems: dict[str, PhoneResult]
    totals: dict[str, int]
    audio_s: float

    def rows(self) -> list[dict]:
        rows = []
        shared = set.intersection(*(set(r.scored) for r in self.systems.values())) if len(self.systems) > 1 else set()
        for name, result in self.systems.items():
            for set_name in sorted(self.totals) + ["overall"]:
                if set_name == "overall":
                    errors = [e for v in result.errors.values() for e in v]
                    matched, ref = sum(result.matched.values()), sum(result.reference.values())
                    aligned, total = sum(result.aligned.values()), sum(self.totals.values())
                else:
                    errors = result.errors.get(set_name, [])
                    matched, ref = result.matched.get(set_name, 0), result.reference.get(set_name, 0)
                    aligned, total = result.aligned.get(set_name, 0), self.totals[set_name]
                rows.append(self._row(name, set_name, aligned, total, errors, matched, ref,
                                      result.wall_s if set_name == "overall" else None))
            if shared:
                picked = [result.scored[f] for f in sorted(shared)]
                rows.append(self._row(name, "shared", len(shared), len(shared), [p[0] for p in picked],
                                      sum(p[1] for p in picked), sum(p[2] for p in picked), None))
        return rows

    @staticmethod
    def _row(system, set_name, aligned, total, errors, matched, ref, wall_s) -> dict:
        stats = boundary_stats(np.concatenate(errors) if errors else np.zeros(0))
        return {"system": system, "set": set_name, "aligned": aligned, "total": total, "reference_phones": ref,
                "matched_pct": round(100 * matched / ref, 2) if ref else None, "onset": stats.as_dict(),
                "wall_s": None if wall_s is None else round(wall_s, 3)}

    def as_dict(self) -> dict:
        return {"tier": "phones", "audio_s": round(self.audio_s, 2), "rows": self.rows()}

    def table(self) -> str:
        head = (f"{'system':<13}{'set':<11}{'aligned':>9}{'ref ph':>8}{'matched':>9}{'on MAE':>9}"
                f"{'on<10':>7}{'on<20':>7}{'on<25':>7}{'on<50':>7}{'wall s':>8}")
        lines = [head, "-" * len(head)]
        for r in self.rows():
            on = r["onset"]
            nan = float("nan")
            lines.append(f"{r['system']:<13}{r['set']:<11}{str(r['aligned']) + '/' + str(r['total']):>9}"
                         f"{r['reference_phones']:>8}{(r['matched_pct'] if r['matched_pct'] is not None else nan):>9.1f}"
                         f"{on['mae_ms']:>9.1f}{on['within_10ms']:>7.1f}{on['within_20ms']:>7.1f}"
                         f"{on['within_25ms']:>7.1f}{on['within_50ms']:>7.1f}"
                         f"{(r['wall_s'] if r['wall_s'] is not None else nan):>8.2f}")
        lines.append(f"phones folded to 39 classes and matched by edit distance; matched: % of reference phones "
                     f"paired with an equal phone; onset MAE in ms and within-X in % of matched onsets; audio "
                     f"{self.audio_s:.1f} s; times in seconds from the file start."
                     + ("  shared: only the files every system aligned." if len(self.systems) > 1 else ""))
        return "\n".join(lines)


def run_phone_accuracy(corpus: Path, reference: Path | None, model_name: str, peer: str | None,
                       decode: str = "median") -> PhoneAccuracyReport:
    from frametool.model import load_model
    from frametool.tasks.align import AlignRequest
    from frametool.tasks.long import align_recordings

    utterances = sorted(load_phone_utterances(corpus, reference), key=lambda u: len(u.samples))
    model = load_model(model_name)
    if not model.has_phones:
        raise UsageError(f"--tier phones: model {model_name!r} has no phone head")
    pronouncer = Pronouncer()
    ours = PhoneResult()
    for utt in utterances:
        prons = pronouncer.tokens(utt.tokens)
        began = time.perf_counter()
        times = align_recordings(model, [AlignRequest(utt.samples, utt.tokens, prons)], decode)[0]
        ours.wall_s += time.perf_counter() - began
        ours.add(utt, [(label, float(t)) for word in times.phones if word is not None
                       for label, t in zip(word.labels, word.start_s)])
    systems = {"frametool": ours}
    if peer == "pocketsphinx":
        from frametool.bench.peers import PHONE_PASS_OPTIONS, PocketsphinxAligner

        aligner = PocketsphinxAligner(**PHONE_PASS_OPTIONS)
        theirs = PhoneResult()
        for utt in utterances:
            words = [w for t in utt.tokens for w in t.spoken]
            for word, pron in zip(words, pronouncer.tokens([_Spoken(w) for w in words])):
                if aligner.lacks(word) and pron:
                    aligner.add_words({word: [fold(p) for p in pron]})
            began = time.perf_counter()
            timed = aligner.phones(utt.samples, words) if not any(aligner.lacks(w) for w in words) else None
            got = [(label, start) for word in timed for label, start, _ in word] if timed else None
            theirs.wall_s += time.perf_counter() - began
            theirs.add(utt, got or None)
        systems[peer] = theirs
    totals: dict[str, int] = {}
    for utt in utterances:
        totals[utt.set_name] = totals.get(utt.set_name, 0) + 1
    return PhoneAccuracyReport(systems, totals, sum(len(u.samples) / 16000 for u in utterances))


@dataclass(frozen=True)
class _Spoken:
    """A one-word token (Pronouncer.tokens reads `spoken`)."""

    word: str

    @property
    def spoken(self) -> tuple[str, ...]:
        return (self.word,)
