"""Load any audio file as 16 kHz mono float32, with errors that name the file and the problem."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from frametool.errors import InputError

TARGET_RATE_HZ = 16000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".au")


@dataclass(frozen=True)
class Waveform:
    samples: np.ndarray  # (N,) float32, mono
    sample_rate_hz: int
    source_rate_hz: int
    source_channels: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def load_audio(path: Path, sample_rate_hz: int = TARGET_RATE_HZ) -> Waveform:
    """Read, downmix to mono and resample; raises InputError for unreadable or empty audio."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except FileNotFoundError:
        raise InputError(path, "audio file not found") from None
    except PermissionError:
        raise InputError(path, "audio file is not readable (permission denied)") from None
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
        raise InputError(path, f"audio cannot be decoded ({str(exc).strip() or type(exc).__name__})") from None
    if data.shape[0] == 0:
        raise InputError(path, "audio is 0.0 s long (no samples)")
    if not np.all(np.isfinite(data)):
        bad = int(np.sum(~np.isfinite(data)))
        raise InputError(path, f"audio contains {bad} NaN or infinite samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate_hz:
        mono = soxr.resample(mono, rate, sample_rate_hz)
    return Waveform(np.ascontiguousarray(mono, dtype=np.float32), sample_rate_hz, int(rate), data.shape[1])
