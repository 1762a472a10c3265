"""Warm start into a deeper model: the new transformer layers start as the identity."""
import numpy as np
import torch

from frametool.model import FrameModel, ModelConfig, make_batch
from frametool.text.normalize import tokenize
from frametool.training.train import identity_init_new_layers

RATE = 16000


def _model(enc_layers: int, seed: int) -> FrameModel:
    torch.manual_seed(seed)
    return FrameModel(ModelConfig(backbone_config=dict(d_model=32, n_heads=2, enc_layers=enc_layers,
                                                       dec_layers=1, query_after_audio=True, ctc=True)))


def _batch():
    waves = [np.random.default_rng(k).standard_normal(RATE * (k + 1)).astype(np.float32) * 0.1 for k in range(2)]
    return make_batch(waves, [tokenize("hello there"), tokenize("ok")])


def test_a_grown_encoder_computes_what_the_shallow_one_did():
    shallow, deep = _model(2, 0).eval(), _model(4, 1).eval()
    missing, unexpected = deep.load_state_dict(shallow.state_dict(), strict=False)
    assert not unexpected
    assert identity_init_new_layers(deep, missing) == ["backbone.encoder.layers.2", "backbone.encoder.layers.3"]
    batch = _batch()
    with torch.no_grad():
        want, _ = shallow(batch)
        got, _ = deep(batch)
    assert torch.allclose(want, got, atol=1e-5)
    # the new layers still train: their output projections get gradients
    deep.train()
    logits, _ = deep(batch)
    logits[torch.isfinite(logits)].sum().backward()
    assert deep.backbone.encoder.layers[3].linear2.weight.grad.abs().sum() > 0


def test_layers_with_loaded_weights_are_left_alone():
    model = _model(2, 0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # only part of a layer missing: not a new layer
    assert identity_init_new_layers(model, ["backbone.encoder.layers.1.linear2.weight"]) == []
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
