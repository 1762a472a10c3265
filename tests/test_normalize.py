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


def _said(transcript):
    return [" ".join(t.spoken) for t in tokenize(transcript)]


def test_abbreviations_are_read_in_full_where_the_context_says_so():
    assert _said("Mr. Smith met Dr Jones, etc.") == ["mister", "smith", "met", "doctor", "jones", "et cetera"]
    assert _said("St. Paul lives on Baker St.") == ["saint", "paul", "lives", "on", "baker", "street"]
    assert _said("Dr. Who of Mulholland Dr. met Dr Jones") == ["doctor", "who", "of", "mulholland", "drive", "met",
                                                               "doctor", "jones"]
    assert _said("Gen. Lee of Acme Co. saw Fig. 3") == ["general", "lee", "of", "acme", "company", "saw",
                                                       "figure", "three"]
    # words that only look like abbreviations stay words
    assert _said("a gen z co op, the fig.") == ["a", "gen", "z", "co", "op", "the", "fig"]
    assert _said("No. 5 said no.") == ["number", "five", "said", "no"]
    # the output tier keeps what the user wrote
    assert [t.text for t in tokenize("Mr. Smith")] == ["Mr", "Smith"]


def test_units_times_decades_and_fractions():
    assert _said("5 km, 1 ft, 3ft, 2.5kg, 100mph, 20°C") == [
        "five", "kilometers", "one", "foot", "three feet", "two point five kilograms",
        "one hundred miles per hour", "twenty degrees celsius"]
    assert _said("9:30 9:05 9:00 am 5pm") == ["nine thirty", "nine oh five", "nine", "a m", "five p m"]
    # "am" after what cannot be an hour is the word; "mm" after a number may be a filler
    assert _said("2006 am 5 mm 5mm") == ["two thousand and six", "am", "five", "mm", "five millimeters"]
    assert _said("3.5am 13am") == ["three point five am", "thirteen am"]
    assert _said("the 1990s, '60s and 1800s") == ["the", "nineteen nineties", "sixties", "and",
                                                  "eighteen hundreds"]
    assert _said("1/2 3/4 2/3 24/7") == ["one half", "three quarters", "two thirds", "twenty four seven"]


def test_roman_numerals_and_initialisms_in_mixed_case_text():
    assert _said("Henry VIII won World War II") == ["henry", "the eighth", "won", "world", "war", "two"]
    assert _said("The FBI, the BBC, DVDs and NASA") == ["the", "f b i", "the", "b b c", "d v ds", "and",
                                                        "nasa"]
    assert _said("I saw it") == ["i", "saw", "it"]
    assert _said("The II") == ["the", "ii"]
    # an ALL-CAPS transcript (LibriSpeech style) has no initialisms to find
    assert _said("THE FBI SAID II") == ["the", "fbi", "said", "ii"]
