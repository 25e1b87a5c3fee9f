"""Localized patterns that mail clients put around quoted replies.

Each pattern is written from what the clients really emit (Gmail, Outlook desktop/web/mobile,
Apple Mail and iOS, Thunderbird, Yahoo, Proton Mail, Samsung Email) in English, German, French,
Spanish, Portuguese, Italian, Dutch, Danish, Swedish, Norwegian, Polish, Japanese, Finnish,
Czech and Turkish.
"""

from __future__ import annotations

import re

__all__ = [
    "DELIMITER",
    "MOBILE_SIGNATURE",
    "OUTLOOK_FROM",
    "OUTLOOK_OTHER",
    "OUTLOOK_STRONG",
    "QUOTE",
    "SIGNATURE",
    "UNDERSCORES",
    "WROTE_CJK",
    "WROTE_DASHED",
    "WROTE_END",
    "WROTE_JA",
    "WROTE_ON",
    "WROTE_VERBLESS",
    "is_wrote_header",
]

# "On <date>, <name> wrote:" and translations. French puts a space before the colon
# ("a écrit :"); Gmail Polish writes "napisał(a):", Thunderbird Polish "pisze:", Apple Mail
# Dutch "het volgende geschreven:", Czech "napsal(a):", Turkish "şunu yazdı:".
_WROTE_WORDS = (
    r"wrote|writes|schrieb|a\s+écrit|escribió|escreveu|ha\s+scritto|scrisse|schreef|geschreven|skrev|"
    r"napisał\(a\)|napisał|napisała|pisze|kirjoitti|napsal\(a\)|napsal|napsala|yazdı|"
    # Russian and Ukrainian (Apple Mail, Thunderbird, Outlook), Catalan, Hungarian
    # ("ezt írta (időpont: ...):"), Vietnamese
    r"написал\(а\)|написала|написал|пишет|пише|написав|написала|писав|"
    r"ha\s+escrit|va\s+escriure|írta|đã\s+viết|viết"
)
# German, Dutch and the Scandinavian languages put the name after the verb:
# "Am 12.01.2026 um 10:00 schrieb Helen <h@x>:", "Den 12. jan. 2026 skrev Helen <h@x>:".
WROTE_END = re.compile(rf"(?<!\w)(?:{_WROTE_WORDS})(?!\w).{{0,160}}?[:：]\s*$", re.IGNORECASE)
# Japanese clients have no verb at the end: Gmail "2026年1月12日(月) 10:00 Helen <h@x>:",
# Apple/iOS "2026/01/12 10:00、Helen <h@x>のメール:", Thunderbird "... さんは書きました:".
WROTE_JA = re.compile(
    r"(?:のメール|書きました|wrote)\s*[:：]\s*$|^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.*[>＞]\s*[:：]\s*$"
)
# Chinese and Korean verbs follow the time or name without a space ("10:00写道：",
# "Helen <h@x>님이 작성:"), so no word boundary can be asked of them.
WROTE_CJK = re.compile(r"(?:写道|寫道|님이\s*작성|작성)\s*[:：]\s*$")
# English variants: "---- Helen wrote ----" (Android, Zoho), "On ... Helen sent:", "On ...
# wrote" without its colon, dashes glued to "On" ("--On Mon, ...").
WROTE_DASHED = re.compile(
    rf"^-{{2,}}\s*.{{0,200}}?(?<!\w)(?:{_WROTE_WORDS})(?!\w).{{0,40}}?-{{2,}}\s*$", re.IGNORECASE)
WROTE_ON = re.compile(r"^-*\s*On\s.{5,250}?(?<!\w)(?:wrote|sent)\s*[:：]?\s*$", re.IGNORECASE)
# No verb at all, as older Gmail wrote it in many locales and Yandex does: a date (ISO,
# dotted or slashed, or "12 Jan 2026"; a time and offset or not), then a name and address,
# then a colon or nothing: "12.01.2026, 10:00, Helen <helen@example.org>:".
WROTE_VERBLESS = re.compile(
    r"^(?:[^\W\d_]{2,4}\.?,?\s+)?"
    r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{1,2}\s+[^\W\d_]{3,}\.?\s+\d{4})"
    r"[^<>@]{0,80}?(?:<[^<>\s]+@[^<>\s]+>|[^\s<>:]+@[^\s<>:]+)\s*[:：]?\s*$"
)
_HAS_DATE_OR_ADDRESS = re.compile(r"\d|@")


def is_wrote_header(line: str) -> bool:
    """True when one (possibly joined) line looks like a reply attribution line."""
    line = line.strip().strip("*_")
    if len(line) > 300:
        return False
    if WROTE_DASHED.search(line):
        return True  # "---- Helen wrote ----" names neither a date nor an address
    if not _HAS_DATE_OR_ADDRESS.search(line):
        return False
    return any(pattern.search(line) for pattern in _WROTE)


_WROTE = (WROTE_END, WROTE_JA, WROTE_CJK, WROTE_DASHED, WROTE_ON, WROTE_VERBLESS)


QUOTE = re.compile(r"^\s{0,3}>")
# RFC 3676 section 4.3 "-- "; many clients strip the trailing space.
SIGNATURE = re.compile(r"^--\s?$")
UNDERSCORES = re.compile(r"^\s*_{20,}\s*$")

DELIMITER = re.compile(
    # Gmail's text part renders Outlook's bold separators with asterisks around them.
    r"^\s*\*?\s*-{2,}\s*(?:Original Message|Reply Message|Antwort Nachricht|"
    r"Ursprüngliche Nachricht|Originalnachricht|"
    r"Message d'origine|Message original|Mensaje original|Mensagem original|"
    r"Messaggio originale|Oorspronkelijk bericht|Oprindelig meddelelse|"
    r"Ursprungligt meddelande|Opprinnelig melding|Wiadomość oryginalna|"
    r"元のメッセージ|Forwarded message|Weitergeleitete Nachricht|Message transféré|"
    r"Mensaje reenviado|Mensagem encaminhada|Messaggio inoltrato|Doorgestuurd bericht|"
    r"Videresendt meddelelse|Vidarebefordrat meddelande|Videresendt melding|"
    r"Wiadomość przekazana|転送されたメッセージ|Oprindelig besked|Videresendt besked|"
    r"Originalmeddelande|Origineel bericht|Oryginalna wiadomość|Przekazana wiadomość|"
    r"Alkuperäinen viesti|Välitetty viesti|Původní zpráva|Přeposlaná zpráva|"
    r"Özgün ileti|Orijinal mesaj|İletilen ileti)\s*-{2,}\s*\*?\s*$"
    r"|^\s*(?:Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Inicio del mensaje reenviado)\s*:\s*$",
    re.IGNORECASE,
)

_COLON = r"\s*[:：]"
# Outlook's header block of the quoted message. Gmail renders the HTML bold labels as
# "*From:*" in its text/plain alternative, hence the optional asterisks.
OUTLOOK_FROM = re.compile(
    r"^\s*\*?(?:From|Von|De|Da|Van|Fra|Från|Od|Lähettäjä|Kimden|差出人|送信者)" + _COLON + r"\*?\s*\S",
    re.IGNORECASE,
)
OUTLOOK_OTHER = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Cc|Bcc|Subject|Gesendet|Datum|An|Betreff|Envoyé|À|A|Objet|"
    r"Enviado|Enviado el|Enviada em|Fecha|Para|Asunto|Assunto|Data|Inviato|Oggetto|Verzonden|"
    r"Aan|Onderwerp|Sendt|Dato|Til|Emne|Skickat|Till|Kopia|Ämne|Kopi|Wysłano|Wysłane|Do|DW|"
    r"Temat|Enviada|Lähetetty|Vastaanottaja|Kopio|Aihe|Odesláno|Komu|Kopie|Předmět|Gönderildi|"
    r"Tarih|Kime|Bilgi|Konu|送信日時|日付|宛先|件名)" + _COLON,
    re.IGNORECASE,
)
# The labels that make a block surely a header block, not a participant's "To: all" line.
OUTLOOK_STRONG = re.compile(
    r"^\s*\*?(?:Sent|Date|Subject|Gesendet|Datum|Betreff|Envoyé|Objet|Enviado|Enviado el|"
    r"Enviada em|Fecha|Asunto|Assunto|Data|Inviato|Oggetto|Verzonden|Onderwerp|Sendt|Dato|"
    r"Emne|Skickat|Ämne|Wysłano|Wysłane|Temat|Enviada|Lähetetty|Aihe|Odesláno|Předmět|Gönderildi|"
    r"Tarih|Konu|送信日時|日付|件名)" + _COLON,
    re.IGNORECASE,
)

# Whole-line mobile and webmail signatures. Outlook for iOS/Android puts its link right after
# the text in text/plain ("Get Outlook for iOS<https://aka.ms/o0ukef>"), in the user's language
# ("Obtenir Outlook pour iOS", "Hent Outlook for iOS"); Proton Mail writes its link as Markdown
# ("Sent with [Proton Mail](https://proton.me/mail/home) secure email.").
MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:"
    r"Sent from my \S.{0,40}|Sent from (?:Mail|Outlook) for \S.{0,20}|Sent from Outlook(?: Mobile)?"
    r"|Sent from (?:TypeApp|BlueMail|Blue Mail|Aqua Mail|myMail|Spark|Edison Mail|Newton)\b.{0,30}"
    r"|(?:Sent|Enviado|Envoyé|Inviato|Verzonden|Sendt|Skickat|Wysłane) (?:from|desde|de|da|met|fra|från|z) "
    r"Yahoo Mail.{0,30}|Von Yahoo Mail .{0,30}gesendet"
    r"|Sent from (?:Proton ?Mail|my mobile).{0,30}|Sent with \[?Proton ?Mail\b.{0,60}"
    r"|(?:Get|Obtenir|Obtener|Obter o|Hent|Skaffa|Scarica|Haal|Pobierz|Hanki|Získejte) Outlook "
    r"(?:for|pour|para|per|voor|til|för|dla|pro) (?:iOS|Android)"
    r"|Outlook für (?:iOS|Android) (?:herunterladen|beziehen)"
    r"|[^<>]{0,40}Outlook[^<>]{0,40}(?=<https://aka\.ms/)"
    r"|Sent via (?:the )?(?:Samsung|BlackBerry|Superhuman|Spark|Android).{0,30}"
    r"|Get Outlook for (?:iOS|Android)"
    r"|Von meinem .{1,40} gesendet|Gesendet von meinem .{1,40}|Gesendet von Mail für Windows.{0,5}"
    r"|Envoyé (?:de|depuis) (?:mon|ma) .{1,40}|Obtenir Outlook pour (?:iOS|Android)"
    r"|Enviado desde mi .{1,40}|Obtener Outlook para (?:iOS|Android)"
    r"|Enviad[oa] (?:do|de|a partir do) meu .{1,40}|Obter o Outlook para (?:iOS|Android)"
    r"|Inviato da(?:l mio)? (?:iPhone|iPad|Android|Samsung|Galaxy|Outlook|Libero).{0,30}"
    r"|(?:Verzonden|Verstuurd) (?:met|vanaf|van) mijn .{1,40}"
    r"|Sendt fra min .{1,40}|Hent Outlook til (?:iOS|Android)"
    r"|Skickat från min .{1,40}|Skaffa Outlook för (?:iOS|Android)"
    r"|Wysła(?:ne|no) z (?:mojego )?(?:iPhone|iPad|Android|Samsung|Galaxy|telefonu|Outlook).{0,30}"
    r"|Lähetetty (?:iPhonesta|iPadista|Android-puhelimesta|Galaxy-puhelimesta).{0,20}"
    r"|Odesláno z (?:iPhonu|iPadu|mého .{1,30}|Androidu|Galaxy).{0,20}"
    r"|(?:iPhone|iPad|Galaxy|Samsung)[\w'’ ]{0,20} gönderildi"
    r"|[A-Za-z][\w '.-]{0,30}から送信"
    r")\s*(?:<https?://[^\s<>]+>)?\s*$",
    re.IGNORECASE,
)
