from textstats import char_count, line_count, word_count, words


def test_words_are_lower_cased_and_skip_punctuation() -> None:
    assert words("The cat, the HAT!") == ["the", "cat", "the", "hat"]


def test_apostrophes_stay_inside_words() -> None:
    assert words("Don't stop at five o'clock.") == ["don't", "stop", "at", "five", "o'clock"]


def test_word_count_of_empty_text_is_zero() -> None:
    assert word_count("") == 0
    assert word_count("   \n\t") == 0


def test_char_count_with_and_without_spaces() -> None:
    assert char_count("a b\nc") == 5
    assert char_count("a b\nc", spaces=False) == 3


def test_line_count_ignores_a_final_newline() -> None:
    assert line_count("one\ntwo\n") == 2
    assert line_count("") == 0
