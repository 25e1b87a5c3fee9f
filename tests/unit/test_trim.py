"""Tests for service/inbound/trim.py (and the HTML helpers it re-exports)."""

from __future__ import annotations

import pytest

from service.inbound.trim import Trimmed, html_to_text, split_html_reply, trim_html_reply, trim_reply

QUOTED = "> Hi Alice,\n>\n> What happened since last time?\n"
REPLY = "Tried the morning pages.\nNote: it took 3 days to stick.\n\nThanks,\nAlice"


@pytest.mark.parametrize(
    "header",
    [
        "On Mon, Jan 12, 2026 at 10:00 AM Helen <helen@example.org> wrote:",
        "On 12 Jan 2026, at 10:00, Helen <helen@example.org> wrote:",
        "On 12/01/2026 10:00, Helen wrote:",
        "Am Mo., 12. Jan. 2026 um 10:00 Uhr schrieb Helen <helen@example.org>:",
        "Am 12.01.2026 um 10:00 schrieb Helen:",
        "Le lun. 12 janv. 2026 à 10:00, Helen <helen@example.org> a écrit :",
        "El lun, 12 ene 2026 a las 10:00, Helen (<helen@example.org>) escribió:",
        "Em seg., 12 de jan. de 2026 às 10:00, Helen <helen@example.org> escreveu:",
        "Il giorno lun 12 gen 2026 alle ore 10:00 Helen <helen@example.org> ha scritto:",
        "Op ma 12 jan. 2026 om 10:00 schreef Helen <helen@example.org>:",
        "Den man. 12. jan. 2026 kl. 10.00 skrev Helen <helen@example.org>:",
        "Den mån 12 jan. 2026 kl 10:00 skrev Helen <helen@example.org>:",
        "man. 12. jan. 2026 kl. 10:00 skrev Helen <helen@example.org>:",
        "pon., 12 sty 2026 o 10:00 Helen <helen@example.org> napisał(a):",
        "2026年1月12日(月) 10:00 Helen <helen@example.org>:",
        "2026/01/12 10:00、Helen <helen@example.org>のメール:",
        "2026/01/12 10:00 に Helen さんは書きました:",
        # Russian and Ukrainian: Apple Mail, Thunderbird, Outlook
        "12 янв. 2026 г., в 10:00, Helen <helen@example.org> написал(а):",
        "12.01.2026 10:00, Helen пишет:",
        "пн, 12 січ. 2026 о 10:00 Helen <helen@example.org> пише:",
        # Chinese (Gmail, Apple Mail) and Korean (Gmail)
        "Helen <helen@example.org> 于2026年1月12日周一 10:00写道：",
        "2026年1月12日 10:00，Helen <helen@example.org> 写道：",
        "2026년 1월 12일 (월) 오전 10:00, Helen <helen@example.org>님이 작성:",
        # Catalan, Hungarian, Vietnamese
        "El dl., 12 de gen. 2026 a les 10:00, Helen (<helen@example.org>) va escriure:",
        "El 12/01/2026 a les 10:00, Helen ha escrit:",
        "Helen <helen@example.org> ezt írta (időpont: 2026. jan. 12., H, 10:00):",
        "Vào Th 2, 12 thg 1, 2026 vào lúc 10:00 Helen <helen@example.org> đã viết:",
        # English variants: Android and Zoho's dashes, "sent", no colon, dashes glued to On
        "---- On Mon, 12 Jan 2026 10:00:00 +0000 Helen <helen@example.org> wrote ----",
        "---- Helen wrote ----",
        "On Mon, Jan 12, 2026 at 10:00 AM, Helen <helen@example.org> sent:",
        "On Mon, Jan 12, 2026 at 10:00 AM Helen <helen@example.org> wrote",
        "--On Monday, January 12, 2026 10:00 +0000 Helen <helen@example.org> wrote:",
        # No verb: older Gmail locales and Yandex
        '12.01.2026, 10:00, "Helen" <helen@example.org>:',
        "2026-01-12 10:00 GMT+03:00 Helen <helen@example.org>:",
        "12/01/2026 10:00, Helen <helen@example.org>",
        "Mon, 12 Jan 2026 10:00:00 +0300 Helen <helen@example.org>:",
    ],
)
def test_attribution_line_in_every_language_is_cut(header: str) -> None:
    trimmed = trim_reply(f"{REPLY}\n\n{header}\n{QUOTED}")
    assert trimmed.text == REPLY
    assert trimmed.cut.startswith(header)


def test_attribution_wrapped_over_two_lines_is_cut() -> None:
    text = (
        f"{REPLY}\n\nOn Mon, Jan 12, 2026 at 10:00 AM Orlando circle <circle+abc@example.org>\n"
        f"wrote:\n\n{QUOTED}"
    )
    trimmed = trim_reply(text)
    assert trimmed.text == REPLY
    assert trimmed.cut.splitlines()[1] == "wrote:"


@pytest.mark.parametrize(
    ("from_", "sent", "to", "subject"),
    [
        ("From", "Sent", "To", "Subject"),
        ("Von", "Gesendet", "An", "Betreff"),
        ("De", "Envoyé", "À", "Objet"),
        ("De", "Enviado el", "Para", "Asunto"),
        ("De", "Enviado", "Para", "Assunto"),
        ("Da", "Inviato", "A", "Oggetto"),
        ("Van", "Verzonden", "Aan", "Onderwerp"),
        ("Fra", "Sendt", "Til", "Emne"),
        ("Från", "Skickat", "Till", "Ämne"),
        ("Od", "Wysłano", "Do", "Temat"),
        ("差出人", "送信日時", "宛先", "件名"),
    ],
)
@pytest.mark.parametrize("separator", ["", "________________________________\n"])
def test_outlook_header_block_in_every_language_is_cut(
    from_: str, sent: str, to: str, subject: str, separator: str
) -> None:
    block = (
        f"{separator}{from_}: Orlando circle <circle@example.org>\n"
        f"{sent}: Monday, 12 January 2026 10:00\n{to}: Alice <alice@example.com>\n"
        f"{subject}: Check-in 3\n\nHi Alice,\nWhat happened since last time?\n"
    )
    trimmed = trim_reply(f"{REPLY}\n\n{block}")
    assert trimmed.text == REPLY
    assert trimmed.cut.startswith((separator or from_).strip())


def test_outlook_bold_header_block_from_gmail_plain_text() -> None:
    text = (
        "Done!\n\n*From:* Helen <helen@example.org>\n*Sent:* Monday, January 12, 2026 10:00 AM\n"
        "*To:* Alice <alice@example.com>\n*Subject:* Check-in\n\nold text\n"
    )
    assert trim_reply(text).text == "Done!"


@pytest.mark.parametrize(
    "delimiter",
    [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
        "-----Mensagem original-----",
        "-----Messaggio originale-----",
        "-----Oorspronkelijk bericht-----",
        "-----Oprindelig meddelelse-----",
        "-----Ursprungligt meddelande-----",
        "-----Opprinnelig melding-----",
        "-----Wiadomość oryginalna-----",
        "-----元のメッセージ-----",
        "---------- Forwarded message ---------",
    ],
)
def test_original_message_delimiters_are_cut(delimiter: str) -> None:
    trimmed = trim_reply(f"{REPLY}\n\n{delimiter}\nFrom: Helen\nold text\n")
    assert trimmed.text == REPLY
    assert trimmed.cut.startswith(delimiter)


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from my Samsung Galaxy smartphone.",
        "Sent from Mail for Windows",
        "Get Outlook for iOS",
        "Get Outlook for Android",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verzonden met mijn iPhone",
        "Sendt fra min iPhone",
        "Skickat från min iPhone",
        "Wysłane z iPhone'a",
        "iPhoneから送信",
    ],
)
def test_mobile_signatures_are_cut(signature: str) -> None:
    trimmed = trim_reply(f"{REPLY}\n\n{signature}\n\nOn 12 Jan 2026, Helen wrote:\n{QUOTED}")
    assert trimmed.text == REPLY
    assert trimmed.cut.startswith(signature)


def test_dash_dash_signature_is_cut_but_sign_off_kept() -> None:
    trimmed = trim_reply("Went well.\n\nThanks,\nAlice\n-- \nAlice Example\nHead of Things\n")
    assert trimmed.text == "Went well.\n\nThanks,\nAlice"
    assert trimmed.cut == "--\nAlice Example\nHead of Things"


def test_lines_with_colons_and_lists_are_kept() -> None:
    text = (
        "Update: good week.\nNote: I tried it twice.\nTo: everyone who asked, it works.\n\n"
        "Steps:\n- one\n- two\n1. three\n"
    )
    assert trim_reply(text).text == text.strip()


def test_story_mentioning_wrote_without_quotes_is_kept() -> None:
    text = "On Monday my manager wrote:\nkeep going, 2 more weeks!\n\nGreat feeling."
    assert trim_reply(text).text == text


def test_interleaved_answers_are_kept_and_quotes_cut() -> None:
    text = (
        "On Mon, Jan 19, 2026 at 10:00 AM Helen <helen@example.org> wrote:\n"
        "> What happened since last time?\n\nI met Bob.\n\n> What did you try?\n"
        "Pomodoro.\n> One resource?\n> \n> --\n> Orlando circle\n"
    )
    trimmed = trim_reply(text)
    assert trimmed.text == "I met Bob.\n\nPomodoro."
    assert "> What did you try?" in trimmed.cut


def test_bottom_posted_reply_keeps_text_after_quotes() -> None:
    trimmed = trim_reply("> What happened?\n> \n\nA lot happened.\n")
    assert trimmed.text == "A lot happened."
    assert trimmed.cut == "> What happened?\n>"


def test_fenced_code_block_is_never_cut() -> None:
    text = (
        "My script:\n\n```\n> not a quote\n-- \nSent from my iPhone\n```\n\nDone.\n\n"
        "On 12 Jan 2026, Helen <helen@example.org> wrote:\n> old\n"
    )
    trimmed = trim_reply(text)
    assert trimmed.text == "My script:\n\n```\n> not a quote\n-- \nSent from my iPhone\n```\n\nDone."


def test_crlf_and_blank_lines_are_normalised() -> None:
    trimmed = trim_reply("\r\n\r\nHello\r\n\r\nWorld  \r\n\r\n")
    assert trimmed == Trimmed("Hello\n\nWorld", "")


def test_only_quotes_gives_empty_text() -> None:
    trimmed = trim_reply("On 12 Jan 2026, Helen <helen@example.org> wrote:\n> old text\n")
    assert trimmed.text == ""
    assert trimmed.cut == "On 12 Jan 2026, Helen <helen@example.org> wrote:\n> old text"


def test_html_to_text_paragraphs_lists_links() -> None:
    html = (
        "<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>there</b></p>"
        "<p>line one<br>line two</p><ul><li>first</li><li><p>second</p></li></ul>"
        '<p>See <a href="https://example.com/guide">the guide</a> and '
        '<a href="https://example.com/">https://example.com</a>.</p>'
        "<blockquote>quoted<br>text</blockquote><div>after</div></body></html>"
    )
    assert html_to_text(html) == (
        "Hello there\n\nline one\nline two\n\n- first\n- second\n\n"
        "See the guide (https://example.com/guide) and https://example.com.\n\n"
        "> quoted\n> text\n\nafter"
    )


def test_html_to_text_nested_lists_and_pre() -> None:
    html = "<ul><li>a<ul><li>b</li></ul></li></ul><pre>x  = 1\n  y</pre>"
    assert html_to_text(html) == "- a\n  - b\n\nx  = 1\n  y"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (  # Gmail
            '<div dir="ltr">My update</div><br><div class="gmail_quote gmail_quote_container">'
            '<div class="gmail_attr">On Mon wrote:</div><blockquote class="gmail_quote">old'
            "</blockquote></div>",
            "My update",
        ),
        (  # Gmail signature
            '<div dir="ltr">Done<br clear="all"><br><div class="gmail_signature">Alice | CEO</div></div>',
            "Done",
        ),
        (  # Outlook desktop/web
            '<div>Going well</div><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
            "<b>From:</b> Helen</div><div>old</div>",
            "Going well",
        ),
        (  # Outlook desktop border-top block, German
            '<p class="MsoNormal">Gut!</p><div style="border:none;border-top:solid #E1E1E1 1.0pt;'
            'padding:3.0pt 0cm 0cm 0cm"><p class="MsoNormal"><b>Von:</b> Helen<br>'
            "<b>Gesendet:</b> Montag<br><b>Betreff:</b> x</p></div><p>old</p>",
            "Gut!",
        ),
        (  # Apple Mail
            '<div>Merci !</div><div><br><blockquote type="cite"><div>Le 12 janv. 2026, Helen a écrit :'
            "</div><div>old</div></blockquote></div>",
            "Merci !",
        ),
        (  # Thunderbird
            '<p>Thanks</p><div class="moz-cite-prefix">On 12/01/2026 10:00, Helen wrote:<br></div>'
            '<blockquote type="cite" cite="mid:x@y">old</blockquote>',
            "Thanks",
        ),
        (  # Yahoo
            '<div class="ydp1a2b3cyahoo-style-wrap">Yes</div><div id="yahoo_quoted_123" '
            'class="yahoo_quoted"><div>On Monday, Helen wrote:</div><div>old</div></div>',
            "Yes",
        ),
        (  # Outlook mobile
            '<div dir="auto">Short</div><div id="ms-outlook-mobile-signature">Get Outlook for iOS</div>'
            '<hr><div id="divRplyFwdMsg">From: Helen</div>',
            "Short",
        ),
    ],
)
def test_trim_html_reply_cuts_at_client_markers(html: str, expected: str) -> None:
    trimmed = trim_html_reply(html)
    assert trimmed.text == expected
    assert "old" in trimmed.cut or "Outlook" in trimmed.cut or "CEO" in trimmed.cut


def test_outlook_border_top_div_without_from_is_not_a_marker() -> None:
    html = '<p>One</p><div style="border-top:solid #ccc 1pt">A boxed note</div><p>Two</p>'
    assert split_html_reply(html) == (html, "")
    assert trim_html_reply(html).text == "One\n\nA boxed note\n\nTwo"


def test_trim_html_reply_also_trims_text_patterns() -> None:
    html = "<div>Great week.</div><div><br></div><div>Sent from my iPhone</div>"
    assert trim_html_reply(html) == Trimmed("Great week.", "Sent from my iPhone")


@pytest.mark.parametrize("separator", [
    "-----Reply Message-----",
    "-----Antwort Nachricht-----",
    "-------- Original Message --------",
    "*-------- Original Message --------*",
])
def test_separator_lines_cut_the_thread(separator: str) -> None:
    trimmed = trim_reply(f"{REPLY}\n\n{separator}\nFrom: Helen\nHello all,\nwhat happened?\n")
    assert trimmed.text == REPLY


def test_outlooks_dashed_rule_is_not_the_storys_last_line() -> None:
    text = (f"{REPLY}\n\n------------------------------\n"
            "From: Helen <helen@example.org>\nSent: Monday, January 12, 2026 10:00\n"
            "To: circle@example.org\nSubject: Check-in 1\n\nWhat happened?\n")
    assert trim_reply(text).text == REPLY
    # a rule inside the story stays
    assert trim_reply("Before\n----------\nAfter").text == "Before\n----------\nAfter"


def test_gmails_invisible_tracking_mark_is_dropped() -> None:
    assert trim_reply(f"{REPLY}\u1427\n").text == REPLY


@pytest.mark.parametrize("story", [
    "12.01.2026: I started my habit",
    "On Monday I wrote",
    "2026-01-12 was the day I emailed bob@example.org about it",
    "---- my notes ----",
])
def test_story_lines_that_look_a_little_like_headers_stay(story: str) -> None:
    assert trim_reply(f"{story}\nMore text.").text == f"{story}\nMore text."


@pytest.mark.parametrize("footer", [
    "Sent from Outlook Mobile<https://aka.ms/blhgte>", "Sent from TypeApp", "Sent from BlueMail"])
def test_more_client_footers_are_dropped(footer: str) -> None:
    assert trim_reply(f"{REPLY}\n\n{footer}\n").text == REPLY


def test_reply_on_the_same_line_as_its_header_is_kept() -> None:
    header = "On Mon, Jan 12, 2026 at 10:00 AM Helen <helen@example.org> wrote:"
    text = f"Done, see you Tuesday! {header}\n{QUOTED}"
    trimmed = trim_reply(text)
    assert trimmed.text == "Done, see you Tuesday!"
    assert trimmed.cut.startswith("On Mon, Jan 12")
