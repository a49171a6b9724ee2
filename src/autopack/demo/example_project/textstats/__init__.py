"""textstats: small, dependency-free statistics about plain text."""

from textstats.counting import char_count, line_count, word_count, words

__all__ = ["char_count", "line_count", "word_count", "words"]
__version__ = "0.1.0"
