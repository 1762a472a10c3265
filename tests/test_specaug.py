import pytest
import torch

from frametool.training.specaug import FeatureAugment, augment_features


def _batch():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 50, 80, generator=g)
    lens = torch.tensor([50, 30, 10])
    for b, n in enumerate(lens):
        feats[b, n:] = 0.0
    return feats, lens


def test_off_leaves_features_alone():
    feats, lens = _batch()
    assert augment_features(feats, lens, FeatureAugment(), torch.Generator()) is feats
    assert augment_features(feats, lens, FeatureAugment(p=1.0), torch.Generator()) is feats


def test_gain_curve_is_per_band_constant_in_time_bounded_and_skips_padding():
    feats, lens = _batch()
    before = feats.clone()
    out = augment_features(feats, lens, FeatureAugment(p=1.0, tilt=0.5), torch.Generator().manual_seed(1))
    assert torch.equal(feats, before)  # the input is not changed in place
    for b, n in enumerate(lens):
        diff = out[b, :n] - feats[b, :n]
        assert torch.allclose(diff, diff[:1].expand_as(diff), atol=1e-6)  # one gain per band for all frames
        assert diff.abs().max() <= 0.5 + 1e-6
        assert diff.abs().max() > 0  # something changed
        assert torch.all(out[b, n:] == 0)  # padding stays zero


def test_frequency_masks_zero_whole_bands_only():
    feats, lens = _batch()
    config = FeatureAugment(p=1.0, freq_masks=2, freq_mask_bins=10)
    out = augment_features(feats, lens, config, torch.Generator().manual_seed(3))
    masked_any = False
    for b, n in enumerate(lens):
        zero_bands = torch.all(out[b, :n] == 0, dim=0)
        changed = torch.any(out[b, :n] != feats[b, :n], dim=0)
        assert torch.equal(changed & ~zero_bands, torch.zeros_like(changed))  # only masked bands changed
        assert int(zero_bands.sum()) <= 2 * 10
        masked_any |= bool(zero_bands.any())
    assert masked_any


def test_probability_and_seed():
    feats, lens = _batch()
    config = FeatureAugment(p=0.5, tilt=0.3, freq_masks=1, freq_mask_bins=5)
    a = augment_features(feats, lens, config, torch.Generator().manual_seed(7))
    b = augment_features(feats, lens, config, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    untouched = augment_features(feats, lens, FeatureAugment(p=1e-9, tilt=0.3), torch.Generator().manual_seed(7))
    assert torch.equal(untouched, feats)


def test_recipe_table_is_checked(tmp_path):
    from frametool.errors import UsageError
    from frametool.training.train import load_recipe

    recipe = tmp_path / "r.toml"
    recipe.write_text('[train]\ntrain_manifest = "a"\ndev_manifest = "b"\nout_dir = "c"\n'
                      '[feature_augment]\np = 0.5\ntilt = 0.2\n')
    assert load_recipe(recipe).feature_augment == {"p": 0.5, "tilt": 0.2}
    recipe.write_text('[train]\ntrain_manifest = "a"\ndev_manifest = "b"\nout_dir = "c"\n'
                      '[feature_augment]\nwobble = 1\n')
    with pytest.raises(UsageError, match="wobble"):
        load_recipe(recipe)


def test_training_applies_the_recipe_augmentation(tmp_path, monkeypatch):
    from frametool.training import train as train_module
    from tests.conftest import noise_manifest

    noise_manifest(tmp_path, 2)
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'[train]\ntrain_manifest = "{tmp_path / "manifest.jsonl"}"\n'
                      f'dev_manifest = "{tmp_path / "manifest.jsonl"}"\nout_dir = "{tmp_path / "run"}"\n'
                      'steps = 2\neval_every = 2\nsave_every = 2\ndevice = "cpu"\n'
                      '[feature_augment]\np = 1.0\ntilt = 0.3\nfreq_masks = 1\nfreq_mask_bins = 4\n'
                      '[backbone]\nd_model = 32\nn_heads = 2\nenc_layers = 1\ndec_layers = 1\n')
    changed = []
    real = train_module.augment_features

    def spy(feats, lens, config, generator):
        out = real(feats, lens, config, generator)
        changed.append(not torch.equal(out, feats))
        return out

    monkeypatch.setattr(train_module, "augment_features", spy)
    lines = []
    train_module.train(train_module.load_recipe(recipe), log=lines.append)
    assert any(line.startswith("feature augmentation") for line in lines)
    assert changed and all(changed)


def test_vocal_tract_warp_moves_a_formant_by_the_factor():
    from frametool.training.specaug import warp_mel

    feats = torch.zeros(2, 4, 80)
    feats[:, :, 30] = 1.0  # a spectral peak at bin 30 in every frame
    out = warp_mel(feats, torch.tensor([1.0, 1.2]))
    assert torch.allclose(out[0], feats[0])  # factor 1: unchanged
    peak = (out[1, 0] * torch.arange(80.0)).sum() / out[1, 0].sum()
    assert abs(float(peak) - (30.5 * 1.2 - 0.5)) < 0.6  # bin centres scale by the factor


def test_time_smearing_softens_a_step_and_keeps_padding():
    from frametool.training.specaug import smear

    feats = torch.zeros(2, 20, 3)
    feats[:, 10:15] = 1.0
    valid = torch.ones(2, 20, 1)
    valid[1, 15:] = 0.0
    feats[1, 15:] = 0.0  # utterance 1 ends at frame 15
    out = smear(feats, torch.tensor([0, 2]), valid)
    assert torch.equal(out[0], feats[0])  # half-width 0: unchanged
    assert 0 < float(out[1, 9, 0]) < 1 and 0 < float(out[1, 11, 0]) < 1  # the step is spread out
    assert torch.all(out[1, 15:] == 0)  # padding stays zero
    constant = smear(torch.ones(1, 20, 3), torch.tensor([3]), torch.ones(1, 20, 1))
    assert torch.allclose(constant, torch.ones(1, 20, 3))  # edges renormalised: no darkening


def test_warp_and_blur_only_on_chosen_utterances():
    feats, lens = _batch()
    out = augment_features(feats, lens, FeatureAugment(p=0.0001, warp=0.2, blur=3), torch.Generator().manual_seed(5))
    assert torch.allclose(out, feats)
    out = augment_features(feats, lens, FeatureAugment(p=1.0, warp=0.2, blur=3), torch.Generator().manual_seed(5))
    assert not torch.allclose(out, feats)
    for b, n in enumerate(lens):
        assert torch.all(out[b, n:] == 0)
