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


def test_mel_filterbank_equals_transformers_slaney_filterbank():
    import numpy as np
    from transformers.audio_utils import mel_filter_bank

    from frametool.audio.features import FeatureConfig, _filterbank

    for config in (FeatureConfig(), FeatureConfig(n_fft=512, n_mels=40), FeatureConfig(sample_rate_hz=8000)):
        ref = mel_filter_bank(num_frequency_bins=config.n_fft // 2 + 1, num_mel_filters=config.n_mels,
                              min_frequency=0.0, max_frequency=config.sample_rate_hz / 2,
                              sampling_rate=config.sample_rate_hz, norm="slaney", mel_scale="slaney")
        ours = _filterbank(config).numpy()
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-7)
