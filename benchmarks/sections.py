"""Replace (or append) one section of a RESULTS.md: from its heading to the next heading of any level, so
the subsections under it that other runs wrote stay."""
from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, body: str) -> None:
    """`body` starts with `heading` (a markdown heading line) and replaces that section's own text."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if heading in text:
        start = text.index(heading)
        rest = text[start + len(heading):]
        end = rest.find("\n#")
        text = text[:start] + body + (rest[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text, encoding="utf-8")
