"""JSON (one object per file), JSON lines, CSV/TSV and RTTM renderings of an Annotation."""
from __future__ import annotations

import csv
import io
import json

from frametool.annotation import Annotation

COLUMNS = ("file", "tier", "label", "start_s", "end_s", "start_ci_low_s", "start_ci_high_s",
           "end_ci_low_s", "end_ci_high_s", "confidence", "flags")


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def to_dict(annotation: Annotation) -> dict:
    items = []
    for tier in annotation.tiers:
        for item in tier.items:
            items.append({"tier": tier.name, "label": item.label, "start_s": _r(item.start_s),
                          "end_s": _r(item.end_s),
                          "start_ci_s": [_r(v) for v in item.start_ci_s] if item.start_ci_s else None,
                          "end_ci_s": [_r(v) for v in item.end_ci_s] if item.end_ci_s else None,
                          "confidence": _r(item.confidence), "flags": list(item.flags)})
    return {"file": annotation.file, "duration_s": _r(annotation.duration_s), "model": annotation.model,
            "task": annotation.task, **annotation.meta, "items": items}


def render_json(annotation: Annotation) -> str:
    return json.dumps(to_dict(annotation), ensure_ascii=False, indent=1) + "\n"


def render_jsonl(annotation: Annotation) -> str:
    return json.dumps(to_dict(annotation), ensure_ascii=False) + "\n"


def render_csv(annotation: Annotation, delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(COLUMNS)
    for tier in annotation.tiers:
        for item in tier.items:
            s_ci = item.start_ci_s or (None, None)
            e_ci = item.end_ci_s or (None, None)
            writer.writerow([annotation.file, tier.name, item.label, _r(item.start_s), _r(item.end_s),
                             _r(s_ci[0]), _r(s_ci[1]), _r(e_ci[0]), _r(e_ci[1]), _r(item.confidence),
                             ";".join(item.flags)])
    return buffer.getvalue()


def render_rttm(annotation: Annotation, file_id: str) -> str:
    """SPEAKER <file-id> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>, one line per segment."""
    lines = []
    for tier in annotation.tiers:
        for item in sorted(tier.items, key=lambda i: i.start_s):
            lines.append(f"SPEAKER {file_id} 1 {item.start_s:.3f} {item.end_s - item.start_s:.3f} "
                         f"<NA> <NA> {item.label} <NA> <NA>")
    return "\n".join(lines) + ("\n" if lines else "")
