"""Tests for service/inbound/links.py."""

from __future__ import annotations

from service.inbound.links import Link, extract_links, normalise_url


def test_bare_url_title_is_words_before_it() -> None:
    text = "This article changed my mind: https://example.com/habits/small-wins."
    assert extract_links(text) == [
        Link("https://example.com/habits/small-wins", "This article changed my mind")
    ]


def test_url_alone_on_a_line_gets_host_and_path() -> None:
    assert extract_links("https://www.example.com/a/b/\n") == [
        Link("https://www.example.com/a/b/", "example.com/a/b")
    ]


def test_markdown_and_angle_brackets() -> None:
    text = "See [the WOL guide](https://workingoutloud.com/guides) and <https://example.org/x>."
    assert extract_links(text) == [
        Link("https://workingoutloud.com/guides", "the WOL guide"),
        Link("https://example.org/x", "example.org/x"),
    ]


def test_trailing_punctuation_and_balanced_parentheses() -> None:
    text = (
        "(see https://en.wikipedia.org/wiki/Flow_(psychology)), "
        "and https://example.com/a?b=1;c=2. also 'https://example.com/q'!"
    )
    urls = [link.url for link in extract_links(text)]
    assert urls == [
        "https://en.wikipedia.org/wiki/Flow_(psychology)",
        "https://example.com/a?b=1;c=2",
        "https://example.com/q",
    ]


def test_markdown_link_to_wikipedia_url_with_parentheses() -> None:
    text = "[Flow](https://en.wikipedia.org/wiki/Flow_(psychology))"
    assert extract_links(text) == [Link("https://en.wikipedia.org/wiki/Flow_(psychology)", "Flow")]


def test_deduplicated_by_normalised_url_keeping_explicit_title() -> None:
    text = "https://Example.com/guide/\nAgain: [Guide](http://www.example.com/guide)"
    assert extract_links(text) == [Link("https://Example.com/guide/", "Guide")]


def test_html_anchor_title_and_text_form() -> None:
    html = (
        '<p>Try <a href="https://jamesclear.com/atomic">this <b>book</b></a> and '
        '<a href="https://example.com/">https://example.com/</a> '
        '<a href="mailto:helen@example.org">mail me</a></p>'
    )
    text = "Try this book (https://jamesclear.com/atomic) and https://example.com/ mail me"
    assert extract_links(text, html) == [
        Link("https://jamesclear.com/atomic", "this book"),
        Link("https://example.com/", "example.com"),
    ]


def test_skips_mailto_unsubscribe_and_own_prefixes() -> None:
    text = (
        "mailto:helen@example.org\nhttps://circle.example.org/unsubscribe/abc\n"
        "https://circle.example.org/p/xyz\nhttps://ok.example.com/"
    )
    links = extract_links(text, skip_prefixes=["https://circle.example.org/"])
    assert links == [Link("https://ok.example.com/", "ok.example.com")]


def test_list_marker_not_in_title() -> None:
    assert extract_links("- podcast https://example.fm/42") == [
        Link("https://example.fm/42", "Podcast: example.fm/42")]


def test_title_is_only_the_clause_the_link_ends() -> None:
    # The words of the sentence before are not part of the title ("... kindly. Book").
    text = "Goal: learn to give feedback kindly. Book https://jamesclear.com/atomic-habits"
    assert extract_links(text) == [
        Link("https://jamesclear.com/atomic-habits", "Book: jamesclear.com/atomic-habits")]
    assert extract_links("Thanks to Anna, the feedback book, see https://x.org/a") == [
        Link("https://x.org/a", "The feedback book")]


def test_a_verdict_is_no_title() -> None:
    assert extract_links("This helped: https://hbr.org/2019/03/the-feedback-fallacy") == [
        Link("https://hbr.org/2019/03/the-feedback-fallacy", "hbr.org/2019/03/the-feedback-fallacy")]


def test_a_sentence_is_no_title() -> None:
    text = ("I tried the two-minute rule every morning this week and it worked, "
            "because of https://example.com/two-minute-rule")
    assert extract_links(text) == [
        Link("https://example.com/two-minute-rule", "example.com/two-minute-rule")]


def test_normalise_url() -> None:
    assert normalise_url("HTTPS://WWW.Example.com:443/a/") == "example.com/a"
    assert normalise_url("http://example.com:8080/a?x=1#f") == "example.com:8080/a?x=1#f"
