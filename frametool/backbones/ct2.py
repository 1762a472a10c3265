"""Reading (and, for tests, writing) CTranslate2 `model.bin` files: named little-endian tensors.

Layout: uint32 version, spec name, uint32 revision, uint32 variable count; per variable its name, uint8
rank, rank x uint32 dims, uint8 dtype, uint32 byte count and the raw bytes; then uint32 alias count and
(alias, target) name pairs. A string is a uint16 length followed by that many bytes, NUL-terminated.
Only what frametool needs to start an audio encoder from such a file; ctranslate2 itself is not needed.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from frametool.errors import ModelError

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}


@dataclass(frozen=True)
class Ct2Model:
    spec: str
    version: int
    revision: int
    variables: dict[str, np.ndarray]

    def get(self, name: str) -> np.ndarray:
        if name not in self.variables:
            raise ModelError(f"{self.spec} model has no variable {name!r}")
        return self.variables[name]


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelError(f"{self.path}: truncated CTranslate2 model (wanted {n} bytes at offset {self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("H")).rstrip(b"\0").decode("utf-8")


def read_ct2(path: Path, prefix: str = "") -> Ct2Model:
    """The variables of a CTranslate2 model.bin whose names start with `prefix` (all when empty), as numpy
    arrays (their stored dtype); aliases are resolved to their targets."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from None
    r = _Reader(data, path)
    version = r.unpack("I")
    if not 1 <= version <= 100:
        raise ModelError(f"{path} is not a CTranslate2 model.bin (version field {version})")
    spec = r.string() if version >= 2 else ""
    revision = r.unpack("I") if version >= 2 else 1
    variables: dict[str, np.ndarray] = {}
    for _ in range(r.unpack("I")):
        name = r.string()
        dims = [r.unpack("I") for _ in range(r.unpack("B"))]
        code = r.unpack("B")
        if code not in _DTYPES:
            raise ModelError(f"{path}: variable {name!r} has unknown dtype code {code}")
        raw = r.take(r.unpack("I"))
        if name.startswith(prefix):
            array = np.frombuffer(raw, dtype=_DTYPES[code])
            if array.size != int(np.prod(dims)):
                raise ModelError(f"{path}: variable {name!r} holds {array.size} values, its shape {dims} needs "
                                 f"{int(np.prod(dims))}")
            variables[name] = array.reshape(dims)
    for _ in range(r.unpack("I") if r.pos < len(data) else 0):
        alias, target = r.string(), r.string()
        if alias.startswith(prefix) and target in variables:
            variables[alias] = variables[target]
    return Ct2Model(spec, version, revision, variables)


def write_ct2(path: Path, spec: str, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
              version: int = 6, revision: int = 3) -> None:
    """Write `variables` in the same layout (tests build small files with it)."""
    def string(s: str) -> bytes:
        raw = s.encode("utf-8") + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", version), string(spec), struct.pack("<I", revision),
           struct.pack("<I", len(variables))]
    for name, array in variables.items():
        array = np.ascontiguousarray(array)
        out += [string(name), struct.pack("<B", array.ndim), *(struct.pack("<I", d) for d in array.shape),
                struct.pack("<B", _CODES[array.dtype]), struct.pack("<I", array.nbytes), array.tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [string(alias), string(target)]
    Path(path).write_bytes(b"".join(out))
