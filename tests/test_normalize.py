from frametool.text.normalize import clean_text, spoken_words, tokenize
from frametool.text.tokenizer import encode_words


def test_numbers_currency_and_symbols_are_verbalised():
    assert spoken_words("1984") == ["nineteen", "eighty", "four"]
    assert spoken_words("£13.60") == ["thirteen", "pounds", "sixty", "pence"]
    assert spoken_words("45%") == ["forty", "five", "percent"]
    assert spoken_words("3rd") == ["third"]
    assert spoken_words("rock&roll") == ["rock", "and", "roll"]
    assert spoken_words("e-mail") == ["e", "mail"]
    assert spoken_words("—") == []


def test_tokens_keep_user_text_and_drop_lone_punctuation():
    tokens = tokenize("\ufeffHello, World! - It's 1984.\r\n")
    assert [t.text for t in tokens] == ["Hello", "World", "It's", "1984"]
    assert tokens[0].pause_after and not tokens[2].pause_after
    assert tokens[2].spoken == ("it's",)


def test_control_characters_and_unicode():
    assert clean_text("a\x00b\tc") == "a b c"
    assert [t.spoken for t in tokenize("café naïve")] == [("cafe",), ("naive",)]
    assert tokenize("🙂 ???") == []


def test_tokenizer_word_index_and_last_positions():
    prompt = encode_words(tokenize("the cat 2"))
    assert len(prompt.word_last) == 3
    assert prompt.word_index[prompt.word_last[0]] == 0
    assert prompt.word_index[prompt.word_last[2]] == 2
    assert len(prompt.ids) == len(prompt.word_index)


def test_unreadable_script_is_an_error_not_a_silent_drop():
    import pytest

    from frametool.text.normalize import UnreadableWord

    with pytest.raises(UnreadableWord) as info:
        tokenize("hello שלום world")
    assert info.value.word == "שלום"
