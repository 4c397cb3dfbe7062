"""What went wrong with a generation, in the reader's language.

The pipeline stores its failure messages on the row in English (`error_message`), built from
the sentences below and the provider's own words: logs, the admin and old rows all read the
same text. The pages translate it when they show it (`|failure`): the stored message is read
back as a run of these known sentences, each translated with its parameters, so a row stored
before the studio spoke Chinese reads as well as a new one. A message with a part that is not
one of them (a sentence written since, or text of unknown origin) is shown as stored rather
than half translated; tests/test_i18n_videos.py builds every message the pipeline writes and
checks that each is read whole, so a new sentence cannot slip by untranslated.

The provider's own words (its error message, a suggestion, a file server's status) stay as
they are: they are parameters here, not sentences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import get_language, gettext, gettext_noop

# Sentences, as the pipeline writes them (evolink.EvolinkError.describe, services, storage,
# models.mark_expired). "%(name)s" marks a parameter; one at the very end of a sentence runs
# up to the next sentence that may follow it (TAIL_STARTS) or to the end.
SENTENCES = [
    # evolink.EvolinkError.describe
    gettext_noop(
        "The studio lost contact with the provider while submitting, so it cannot tell yet "
        "whether the video was started (and billed)."
    ),
    gettext_noop("The provider refused the request as invalid: %(message)s"),
    gettext_noop("The team's EvoLink key was refused; an owner or admin can replace it in team settings."),
    gettext_noop("The EvoLink account needs credits; whoever pays for it must top it up, then try again."),
    gettext_noop("The EvoLink account is not allowed to do this: %(message)s"),
    gettext_noop(
        "The provider does not know this task any more; it is treated as lost. Generate it again if needed."
    ),
    gettext_noop("The prompt is too long for the provider; shorten it and try again."),
    gettext_noop("The provider is busy (rate limited)."),
    gettext_noop("The provider had a problem on its side."),
    gettext_noop("The studio could not reach the provider."),
    gettext_noop("The provider answered with an unexpected error (%(status)s): %(message)s"),
    gettext_noop("(field: %(param)s)"),
    gettext_noop("The studio will try again shortly."),
    gettext_noop("The provider suggests: %(suggestion)s"),
    gettext_noop("Nothing was charged."),
    # keys.team_api_key
    gettext_noop(
        "The team's EvoLink key cannot be read with the studio's encryption keys; "
        "an owner or admin needs to enter it again in team settings."
    ),
    # services
    gettext_noop("The provider could not be reached after several tries."),
    gettext_noop(
        "The provider's answer to this prompt was lost. The studio will ask again with the same request "
        "key, which the provider answers with the video it already started rather than a second one."
    ),
    gettext_noop("Outcome unknown — may have been charged."),
    gettext_noop(
        "The studio sent this prompt to the provider at %(when)s and %(why)s, so it cannot tell "
        "whether the video was started (and billed)."
    ),
    gettext_noop(
        "The studio sent this prompt to the provider and %(why)s, so it cannot tell whether the "
        "video was started (and billed)."
    ),
    gettext_noop(
        "It was not sent again: check the provider's dashboard; a team admin can paste the "
        "provider's task id here to fetch the video."
    ),
    gettext_noop("The provider no longer knows this task, so its video cannot be fetched."),
    gettext_noop("The studio could not reach the provider for a long time and stopped asking."),
    gettext_noop("The provider said the video is done but gave no file to download."),
    gettext_noop("The task was cancelled at the provider."),
    gettext_noop("The provider could not make this video: %(reason)s"),
    gettext_noop("The provider did not finish this video within 3 hours; the studio stopped waiting."),
    gettext_noop("The studio could not save the finished video after %(n)s tries:"),
    gettext_noop("There is no file to download for this video."),
    gettext_noop("Saving the video failed:"),
    # the reasons a download failed (storage, services._store)
    gettext_noop("the provider's file could not be found at its download link (HTTP %(status)s)."),
    gettext_noop("an unexpected error (%(name)s)."),
    gettext_noop("the provider's file server could not be reached or stopped answering."),
    gettext_noop("the provider's file server answered %(status)s."),
    gettext_noop("the provider's file came too slowly."),
    gettext_noop("the result link answered %(status)s"),
    gettext_noop("The provider's download link is not a valid address."),
    gettext_noop("The provider's download link was refused: %(reason)s"),
    gettext_noop("The provider's download link redirected more than %(n)s times."),
    gettext_noop("The video file is larger than the studio accepts (%(mb)s MB)."),
    gettext_noop("The provider's file is not a playable video."),
    # models.Generation.mark_expired
    gettext_noop(
        "The provider's download link expired (links last 24 hours) before the studio saved "
        "the video. Generate it again to get a new one."
    ),
]

# Words that fill a parameter and are the studio's own, not the provider's.
VALUES = {
    "why": [
        gettext_noop("lost the answer"),
        gettext_noop("could not get an answer for an hour"),
        gettext_noop("stopped before the answer came"),
        gettext_noop("the provider refused it when asked again (%(message)s)"),
    ],
    "message": [gettext_noop("no details given")],
}

# What may follow a sentence that ends in a parameter (the parameter stops before it).
TAIL_STARTS = (
    "(field: ",
    "The studio will try again shortly.",
    "The provider suggests: ",
    "Nothing was charged.",
)

_PARAM = re.compile(r"%\((\w+)\)s")
_TAIL = "(?=" + "|".join(" " + re.escape(start) for start in TAIL_STARTS) + "|$)"


@dataclass(frozen=True)
class _Sentence:
    msgid: str
    pattern: re.Pattern[str]


def _compile(msgid: str, *, whole: bool) -> re.Pattern[str]:
    out, last = [], 0
    for match in _PARAM.finditer(msgid):
        out.append(re.escape(msgid[last : match.start()]))
        out.append(f"(?P<{match.group(1)}>.+?)")
        last = match.end()
    out.append(re.escape(msgid[last:]))
    ends_in_param = last == len(msgid) and last > 0
    if whole:
        return re.compile("".join(out) + r"\Z", re.DOTALL)
    return re.compile("".join(out) + (_TAIL if ends_in_param else "(?= |$)"), re.DOTALL)


# Longest first, so that a sentence is never read as a shorter one it begins with.
_SENTENCES = [_Sentence(m, _compile(m, whole=False)) for m in sorted(SENTENCES, key=len, reverse=True)]
_VALUES = {
    name: [_Sentence(m, _compile(m, whole=True)) for m in sorted(values, key=len, reverse=True)]
    for name, values in VALUES.items()
}


def _value(name: str, text: str) -> str:
    for value in _VALUES.get(name, ()):
        match = value.pattern.match(text)
        if match:
            return gettext(value.msgid) % match.groupdict()
    return text


def read(message: str) -> list[tuple[str, dict[str, str]]] | None:
    """The stored message as (sentence, parameters) pairs; None when a part is not a known sentence."""
    found: list[tuple[str, dict[str, str]]] = []
    pos, text = 0, message.strip()
    while pos < len(text):
        if text[pos] == " ":
            pos += 1
            continue
        for sentence in _SENTENCES:
            match = sentence.pattern.match(text, pos)
            if match:
                found.append((sentence.msgid, match.groupdict()))
                pos = match.end()
                break
        else:
            return None
    return found


def translate(message: str) -> str:
    """A stored failure message in the active language (as stored in English, or when not read whole)."""
    if not message or (get_language() or "en").startswith("en"):
        return message
    sentences = read(message)
    if sentences is None:
        return message
    parts = [gettext(msgid) % {k: _value(k, v) for k, v in params.items()} for msgid, params in sentences]
    if not (get_language() or "").startswith("zh"):
        return " ".join(parts)
    # Chinese runs sentences together, as the prompts do (prompting._join); a space only
    # after the provider's own (Latin) words.
    text = parts[0]
    for part in parts[1:]:
        text += (" " if text[-1:].isascii() and not text[-1:].isspace() else "") + part
    return text
