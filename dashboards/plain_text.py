"""Text from the data, or from a user or an identity provider, for places that render markdown:
shown as written, never as a link, an image, emphasis or HTML. One rule for every page and the
sign-in (dashboards/ui re-exports it for the pages); it imports nothing of the dashboards, so the
sign-in can use it without a cycle."""

import re

__all__ = ["WORD_JOINER", "plain", "text"]


def text(value: object) -> str:
    """An optional attribute for display: "(none)" where the data has no value."""
    return "(none)" if value is None else str(value)


# The ASCII punctuation that starts a construct of Streamlit's markdown: links and images `[ ] !`,
# emphasis `* _ ~`, code, headings and lists `# + - .`, quotes and HTML `< >`, entities `&`, tables
# `|`, LaTeX `$`, colour and icon directives `:red[…]`. CommonMark takes any of them literally after
# a backslash. Brackets `( )` mean nothing without a `]` before them and stay as they are.
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]<>#+\-.!|~$:@&])")
# Line and paragraph breaks and other control characters: a second line could start a heading.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Streamlit's markdown (remark-gfm) turns `http://…`, `www.…` and `a@b.c` into links after the
# escapes are read, and `:smile:` into emoji: an invisible WORD JOINER after every `:` and `@` and
# after `www` keeps them text. It shows nothing and never breaks the line.
WORD_JOINER = "\u2060"
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)


def _escaped(match: re.Match[str]) -> str:
    character = match.group(1)
    return "\\" + character + (WORD_JOINER if character in ":@" else "")


def plain(value: object) -> str:
    """Text from the data (a customer name, a payer, a note, an id typed in a URL) for a place that
    renders markdown (st.markdown, caption, subheader, info, warning, error, success, progress
    texts): shown literally, on one line, never as a link, an image, emphasis or HTML. "(none)"
    where there is no value."""
    flat = _BREAKS.sub(" ", text(value)).strip()
    return _MARKDOWN_PUNCTUATION.sub(_escaped, _WWW.sub(r"\1" + WORD_JOINER, flat))
