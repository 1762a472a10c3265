"""Sound sources for synthetic scenes: music rendered from General MIDI instruments, and generated sounds.

Every source is an isolated mono clip at 16 kHz, cut to the stretch above `TRIM_DB` below its peak; its
event (the label a scene gives it) runs from the first to the last 5 ms frame above `LABEL_DB` below the
peak (`audible_span`), where a listener hears it start even when the sound swells in slowly (a pad, a
siren's low sweep) or rings out, so the label of a mixed scene is exact for the clip placed in it.
- `music`: a random phrase (melody in a scale, optionally chords and drums) written as a MIDI file (mido)
  and rendered by FluidSynth with a GM SoundFont (Debian's `fluidsynth` and `fluid-soundfont-gm`). General
  MIDI programs are split so that test scenes use instruments training never hears (`music_programs`).
- `alarm` (a repeated beep pattern), `siren` (a wailing or yelping swept tone), `knock` (a few damped
  resonant taps), `chirp` (one fast frequency sweep): drawn from wide parameter ranges by a numpy Generator.
All randomness comes from the Generator passed in, so a seed reproduces every clip.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from frametool.errors import UsageError

SAMPLE_RATE_HZ = 16000
TRIM_DB = 45.0  # the clip keeps everything above this (dB below its peak)
LABEL_DB = 25.0  # its event: the stretch above this
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
GENERATED = ("alarm", "siren", "knock", "chirp")

# General MIDI programs 0-95 are pitched instruments (96-127 are effects and percussion-like); every fifth
# one is kept for test scenes.
_PITCHED = range(96)


def music_programs(split: str) -> list[int]:
    if split == "test":
        return [p for p in _PITCHED if p % 5 == 4]
    return [p for p in _PITCHED if p % 5 != 4]


def audible_span(x: np.ndarray, sr: int = SAMPLE_RATE_HZ, floor_db: float = TRIM_DB) -> tuple[int, int] | None:
    """(first, end) sample of the stretch above `floor_db` below the clip's peak (5 ms frames); None if silent."""
    hop = max(1, int(0.005 * sr))
    n = len(x) // hop
    if n == 0:
        return None
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-20)
    peak = rms.max()
    if peak <= 1e-9:
        return None
    loud = np.flatnonzero(20 * np.log10(rms / peak) > -floor_db)
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


def _fade(x: np.ndarray, ms: float = 5.0) -> np.ndarray:
    n = min(len(x) // 2, int(ms / 1000 * SAMPLE_RATE_HZ))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


def _tone(freq_hz: np.ndarray | float, n: int, harmonics: list[float], rng: np.random.Generator) -> np.ndarray:
    """A tone of (possibly time-varying) frequency with the given harmonic amplitudes."""
    f = np.broadcast_to(np.asarray(freq_hz, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE_HZ + rng.uniform(0, 2 * np.pi)
    out = np.zeros(n)
    for k, amp in enumerate(harmonics, 1):
        out += amp * np.sin(k * phase) * (k * f < SAMPLE_RATE_HZ / 2 - 200)
    return out.astype(np.float32)


def alarm(rng: np.random.Generator) -> np.ndarray:
    """A beep pattern: 3-12 beeps of one or two alternating pitches, 50-300 ms on, 40-300 ms off."""
    sr = SAMPLE_RATE_HZ
    pitches = [rng.uniform(700, 3500)] + ([rng.uniform(700, 3500)] if rng.random() < 0.35 else [])
    on, off = rng.uniform(0.05, 0.3), rng.uniform(0.04, 0.3)
    harmonics = [1.0] if rng.random() < 0.5 else [1.0, 0.0, 0.33, 0.0, 0.2]  # sine or square-ish
    beeps = []
    for k in range(int(rng.integers(3, 13))):
        beep = _fade(_tone(pitches[k % len(pitches)], int(on * sr), harmonics, rng))
        beeps.extend([beep, np.zeros(int(off * sr), dtype=np.float32)])
    return np.concatenate(beeps[:-1])


def siren(rng: np.random.Generator) -> np.ndarray:
    """A tone swept between two pitches: slow (wail, 0.15-0.6 Hz) or fast (yelp, 2-6 Hz), 1.5-5 s."""
    sr = SAMPLE_RATE_HZ
    n = int(rng.uniform(1.5, 5.0) * sr)
    t = np.arange(n) / sr
    low = rng.uniform(450, 1000)
    high = low * rng.uniform(1.3, 2.2)
    rate = rng.uniform(0.15, 0.6) if rng.random() < 0.5 else rng.uniform(2.0, 6.0)
    sweep = 0.5 * (1 - np.cos(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    harmonics = [1.0, 0.5, 0.3, 0.15] if rng.random() < 0.6 else [1.0]
    return _fade(_tone(low + (high - low) * sweep, n, harmonics, rng), 30.0)


def knock(rng: np.random.Generator) -> np.ndarray:
    """2-6 taps 80-350 ms apart; each a noise impulse ringing through 2-3 low resonances (5-30 ms decay)."""
    sr = SAMPLE_RATE_HZ
    gap = rng.uniform(0.08, 0.35)
    count = int(rng.integers(2, 7))
    decay = rng.uniform(0.005, 0.03)
    modes = [(rng.uniform(120, 700), rng.uniform(0.3, 1.0)) for _ in range(int(rng.integers(2, 4)))]
    tap_n = int(8 * decay * sr)
    t = np.arange(tap_n) / sr
    out = np.zeros(int(gap * 1.1 * (count - 1) * sr) + tap_n, dtype=np.float32)
    for k in range(count):
        tap = sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28)) for f, a in modes)
        tap = tap + 0.3 * rng.standard_normal(tap_n) * np.exp(-t / (decay / 3))
        tap = tap * np.exp(-t / decay) * rng.uniform(0.6, 1.0)
        start = int(k * gap * rng.uniform(0.9, 1.1) * sr)  # the taps of a knock are never evenly spaced
        out[start:start + tap_n] += tap.astype(np.float32)
    return out


def chirp(rng: np.random.Generator) -> np.ndarray:
    """One sweep up or down between 1 and 7 kHz in 60-450 ms, with a rounded envelope."""
    sr = SAMPLE_RATE_HZ
    n = int(rng.uniform(0.06, 0.45) * sr)
    f0, f1 = rng.uniform(1000, 3500), rng.uniform(3000, 7000)
    if rng.random() < 0.4:
        f0, f1 = f1, f0
    freq = f0 * (f1 / f0) ** np.linspace(0.0, 1.0, n)
    envelope = np.sin(np.pi * np.linspace(0.0, 1.0, n)) ** rng.uniform(0.5, 2.0)
    return (_tone(freq, n, [1.0, 0.2], rng) * envelope).astype(np.float32)


GENERATORS = {"alarm": alarm, "siren": siren, "knock": knock, "chirp": chirp}


# --- music -------------------------------------------------------------------------------------------------

def soundfont() -> Path:
    for path in SOUNDFONTS:
        if Path(path).is_file():
            return Path(path)
    raise UsageError("music needs a General MIDI SoundFont: apt-get install fluidsynth fluid-soundfont-gm")


def _music_midi(rng: np.random.Generator, programs: list[int], path: Path) -> None:
    """A phrase of 1.5-7 s: a melody in a major or minor scale, chords (half the time) and drums (a third)."""
    import mido

    bpm = rng.uniform(70, 170)
    tpb = 480
    beats = rng.uniform(1.5, 7.0) * bpm / 60
    root = int(rng.integers(48, 67))
    scale = [0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.6 else [0, 2, 3, 5, 7, 8, 10]
    events: list[tuple[int, mido.Message]] = []  # (absolute tick, message)

    def note(channel: int, pitch: int, start: float, length: float, velocity: int) -> None:
        on = int(start * tpb)
        off = max(on + tpb // 8, int((start + length) * tpb) - 1)  # a note never ends before it starts
        events.append((on, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity)))
        events.append((off, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))

    melody = int(rng.choice(programs))
    events.append((0, mido.Message("program_change", channel=0, program=melody)))
    position, degree = 0.0, int(rng.integers(0, 7))
    legato = rng.uniform(0.6, 1.0)
    while position < beats:
        length = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        degree = int(np.clip(degree + rng.integers(-3, 4), -4, 11))
        pitch = root + 12 * (degree // 7) + scale[degree % 7] + 12
        note(0, pitch, position, min(length, beats - position) * legato, int(rng.integers(60, 115)))
        position += length
    if rng.random() < 0.5:
        events.append((0, mido.Message("program_change", channel=1, program=int(rng.choice(programs)))))
        for bar in np.arange(0.0, beats, 2.0):
            base = int(rng.integers(0, 7))
            for step in (0, 2, 4):
                d = base + step
                note(1, root + 12 * (d // 7) + scale[d % 7], float(bar), min(2.0, beats - bar) * 0.95,
                     int(rng.integers(45, 85)))
    if rng.random() < 0.33:
        for beat in np.arange(0.0, beats, 0.5):
            drum = 36 if beat % 2 == 0 else (38 if beat % 1 == 0 else 42)
            note(9, drum, float(beat), 0.25, int(rng.integers(60, 110)))
    events.sort(key=lambda e: (e[0], e[1].type != "note_off"))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=int(60e6 / bpm)))
    now = 0
    for tick, message in events:
        track.append(message.copy(time=max(0, tick - now)))
        now = max(now, tick)
    midi = mido.MidiFile(ticks_per_beat=tpb)
    midi.tracks.append(track)
    midi.save(str(path))


def midi_seconds(path: Path) -> float:
    import mido

    return float(mido.MidiFile(str(path)).length)


def music(rng: np.random.Generator, programs: list[int]) -> np.ndarray:
    """One rendered phrase (mono, 16 kHz); raises UsageError where FluidSynth or a SoundFont is missing."""
    import soundfile as sf

    binary = shutil.which("fluidsynth")
    if binary is None:
        raise UsageError("music needs FluidSynth: apt-get install fluidsynth fluid-soundfont-gm")
    font = soundfont()
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "phrase.mid", Path(tmp) / "phrase.wav"
        _music_midi(rng, programs, mid)
        try:
            done = subprocess.run([binary, "-ni", "-g", "0.7", "-r", str(SAMPLE_RATE_HZ), "-F", str(wav), "-T",
                                   "wav", str(font), str(mid)], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            raise UsageError(f"fluidsynth did not finish rendering a {midi_seconds(mid):.1f} s phrase in 60 s") from None
        if done.returncode != 0 or not wav.is_file():
            raise UsageError(f"fluidsynth failed: {done.stderr.strip()[-300:]}")
        data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE_HZ:
        import soxr

        data = soxr.resample(data, rate, SAMPLE_RATE_HZ)
    return data.mean(axis=1).astype(np.float32)


def make_source(label: str, rng: np.random.Generator, programs: list[int] | None = None
                ) -> tuple[np.ndarray, tuple[float, float]] | None:
    """An isolated clip of `label` cut to its `TRIM_DB` span, with its event (start_s, end_s) inside the clip
    (the `LABEL_DB` span); None if it came out silent."""
    clip = music(rng, programs or music_programs("train")) if label == "music" else GENERATORS[label](rng)
    span = audible_span(clip)
    if span is None:
        return None
    clip = clip[span[0]:span[1]]
    first, end = audible_span(clip, floor_db=LABEL_DB)
    return clip, (first / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ)
