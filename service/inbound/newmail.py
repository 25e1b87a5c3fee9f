"""A participant's new email (not a reply): nothing from it is published until the
participant confirms, by replying to circleback's tokenised answer. Pure: which replies
count as "yes, share what I wrote"."""

from __future__ import annotations

import re

__all__ = ["is_confirmation"]

# Whole replies (after the words below are dropped) that say "yes, share it", in the
# languages of the trimming rules. Anything longer is the participant's own new text.
_CONFIRMING = frozenset({
    "y", "yes", "yep", "yeah", "yup", "ok", "okay", "k", "sure", "fine", "yes share",
    "share", "share it", "yes share it", "go ahead", "go for it", "do it", "publish",
    "publish it", "confirm", "confirmed", "yes confirm", "ja", "jawohl", "oui", "si", "sí",
    "da", "tak", "sim", "ano", "igen", "kyllä", "evet", "hai",
})
# Politeness around a yes ("Yes please, thanks!") changes nothing.
_POLITE = frozenset({"please", "pls", "thanks", "thank", "you", "thx", "ty", "cheers", "bitte",
                     "danke", "merci", "gracias", "grazie"})
_WORD = re.compile(r"\w+", re.UNICODE)
_LONGEST = 60  # characters: a confirmation is a word or two, not a paragraph


def is_confirmation(text: str) -> bool:
    """True when a reply to the "share this?" answer just says yes: empty after trimming,
    a yes word ("yes", "ok", "share" ...), only thanks, or no words at all (a thumbs up):
    nothing new of the participant's own to share instead."""
    stripped = text.strip()
    if not stripped:
        return True
    if len(stripped) > _LONGEST:
        return False
    words = [w for w in _WORD.findall(stripped.lower()) if w not in _POLITE]
    return not words or " ".join(words) in _CONFIRMING
