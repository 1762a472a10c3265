"""frametool: find when things happen in audio with frame-level heads on an audio LM."""
__version__ = "0.1.0"
