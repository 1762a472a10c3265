"""The synthetic voices and which of them are kept out of training.

A voice is an espeak-ng accent with a variant (a different speaker model) and a base rate and pitch, or
a Festival voice (diphone or HTS) with a base rate.
Test voices use variants and an accent that training never hears; dev voices (for picking
checkpoints) use yet other variants, so test numbers measure generalisation to unseen voices.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                 "en-gb-x-gbcwmd", "en-us-nyc")
TEST_ACCENTS = ("en-029",)
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "klatt", "klatt2", "klatt4",
                  "Alex", "Andy", "Denis", "Jacky", "Mike", "Tweaky", "adam", "anika", "aunty",
                  "benjamin", "boris", "caleb", "david", "ed", "edward", "iven", "john", "linda",
                  "max", "norbert", "paul", "pedro", "quincy", "robert", "sandro", "shelby", "steph",
                  "travis", "victor", "zac", "croak", "whisper")
DEV_VARIANTS = ("m5", "f5", "Lee", "rob")
TEST_VARIANTS = ("f4", "m6", "klatt3", "Annie", "Gene", "grandma", "steph2", "iven2")

_ESPEAK_VOICE = {"en-gb": "en"}

# Festival voices: diphone voices (kal, ked, rab, don) and MBROLA diphone voices (us1-3, en1) are
# concatenations of recorded human speech; slt is an HTS voice. Voices missing on the machine are skipped.
FESTIVAL_SPLITS = {
    "train": ("kal_diphone", "cmu_us_slt_arctic_hts", "us1_mbrola", "us3_mbrola", "en1_mbrola", "rab_diphone"),
    "dev": ("don_diphone",),
    "test": ("ked_diphone", "us2_mbrola"),
}
FESTIVAL_SHARE = 0.4  # of the voices, when Festival is among the engines

# flite voices: clustergen voices built from recordings of awb (Scottish English), rms and slt (US English),
# and the kal16 diphone voice. Opt-in (--engines ...,flite), so corpora made without it stay as they were.
FLITE_SPLITS = {
    "train": ("awb", "rms", "slt", "kal16"),
    "dev": (),
    "test": (),
}
FLITE_SHARE = 0.15  # of the voices, when flite is among the engines

SPLITS = {
    "train": (TRAIN_ACCENTS, TRAIN_VARIANTS),
    "dev": (TRAIN_ACCENTS, DEV_VARIANTS),
    "test": (TRAIN_ACCENTS + TEST_ACCENTS, TEST_VARIANTS),
}


@dataclass(frozen=True)
class Voice:
    engine: str
    accent: str
    variant: str
    rate_wpm: int
    pitch: int
    pitch_range: int

    @property
    def name(self) -> str:
        return f"{self.engine}-{self.accent}-{self.variant}-r{self.rate_wpm}-p{self.pitch}"

    @property
    def espeak_name(self) -> str:
        # espeak-ng names its British English voice "en" (language tag en-gb)
        return f"{_ESPEAK_VOICE.get(self.accent, self.accent)}+{self.variant}"


def installed_festival_voices(wanted: tuple[str, ...]) -> tuple[str, ...]:
    from frametool.synth.festival import installed_voices

    have = installed_voices()
    return tuple(v for v in wanted if v in have)


def voices(split: str, count: int, seed: int, engines: tuple[str, ...] = ("espeak-ng",)) -> list[Voice]:
    """`count` distinct voices of one split (accent x variant x base rate and pitch)."""
    accents, variants = SPLITS[split]
    rng = random.Random(f"{split}-{seed}")
    pairs = [(a, v) for a in accents for v in variants]
    rng.shuffle(pairs)
    festival_voices = installed_festival_voices(FESTIVAL_SPLITS[split]) if "festival" in engines else ()
    n_festival = round(count * FESTIVAL_SHARE) if festival_voices else 0
    chosen = [pairs[i % len(pairs)] for i in range(count - n_festival)]
    result = [Voice("espeak-ng", a, v, rng.randint(130, 230), rng.randint(20, 80), rng.randint(20, 90))
              for a, v in chosen]
    result += [Voice("festival", "festival", festival_voices[i % len(festival_voices)],
                     rng.randint(85, 115), 0, 0) for i in range(n_festival)]
    if "flite" in engines:
        from frametool.synth.flite import installed_voices as flite_voices

        have = flite_voices()
        flite_split = tuple(v for v in FLITE_SPLITS[split] if v in have)
        n_flite = min(round(count * FLITE_SHARE), len(result) - 1) if flite_split else 0
        if n_flite > 0:  # they take the place of the last espeak-ng voices
            espeak = [v for v in result if v.engine == "espeak-ng"]
            keep = len(espeak) - n_flite
            result = espeak[:keep] + [v for v in result if v.engine != "espeak-ng"]
            result += [Voice("flite", "flite", flite_split[i % len(flite_split)], rng.randint(85, 115), 0, 0)
                       for i in range(n_flite)]
    return result
