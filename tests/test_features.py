"""Log-mel features: the batched path equals the per-utterance one."""


def test_batched_log_mel_equals_each_utterance_alone():
    import torch

    from frametool.audio.features import log_mel, log_mel_batch

    g = torch.Generator().manual_seed(0)
    waves = [torch.randn(n, generator=g) * s for n, s in ((16000, 0.1), (5123, 1.0), (40007, 0.01), (900, 0.5))]
    batched = log_mel_batch(waves)
    for wave, got in zip(waves, batched):
        alone = log_mel(wave[None])[0]
        assert got.shape == alone.shape
        assert torch.allclose(got, alone, atol=1e-4)
