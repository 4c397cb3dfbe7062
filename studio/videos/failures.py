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

from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_noop as N_

# Sentences, as the pipeline writes them (evolink.EvolinkError.describe, services, storage,
# models.mark_expired). "%(name)s" marks a parameter; one at the very end of a sentence runs
# up to the next sentence that may follow it (TAIL_STARTS) or to the end.
SENTENCES = [
    # evolink.EvolinkError.describe
    N_(
        "The studio lost contact with the provider while submitting, so it cannot tell yet "
        "whether the video was started (and billed)."
    ),
    N_("The provider refused the request as invalid: %(message)s"),
    N_("The team's EvoLink key was refused; an owner or admin can replace it in team settings."),
    N_("The EvoLink account needs credits; whoever pays for it must top it up, then try again."),
    N_("The EvoLink account is not allowed to do this: %(message)s"),
    N_("The provider does not know this task any more; it is treated as lost. Generate it again if needed."),
    N_("The prompt is too long for the provider; shorten it and try again."),
    N_("The provider is busy (rate limited)."),
    N_("The provider had a problem on its side."),
    N_("The studio could not reach the provider."),
    N_("The provider answered with an unexpected error (%(status)s): %(message)s"),
    N_("(field: %(param)s)"),
    N_("The studio will try again shortly."),
    N_("The provider suggests: %(suggestion)s"),
    N_("Nothing was charged."),
    # keys.team_api_key
    N_(
        "The team's EvoLink key cannot be read with the studio's encryption keys; "
        "an owner or admin needs to enter it again in team settings."
    ),
    # services
    N_("The provider could not be reached after several tries."),
    N_(
        "The provider's answer to this prompt was lost. The studio will ask again with the same request "
        "key, which the provider answers with the video it already started rather than a second one."
    ),
    N_("Outcome unknown — may have been charged."),
    N_(
        "The studio sent this prompt to the provider at %(when)s and %(why)s, so it cannot tell "
        "whether the video was started (and billed)."
    ),
    N_(
        "The studio sent this prompt to the provider and %(why)s, so it cannot tell whether the "
        "video was started (and billed)."
    ),
    N_(
        "It was not sent again: check the provider's dashboard; a team admin can paste the "
        "provider's task id here to fetch the video."
    ),
    N_("The provider no longer knows this task, so its video cannot be fetched."),
    N_("The studio could not reach the provider for a long time and stopped asking."),
    N_("The provider said the video is done but gave no file to download."),
    N_("The task was cancelled at the provider."),
    N_("The provider could not make this video: %(reason)s"),
    N_("The provider did not finish this video within 3 hours; the studio stopped waiting."),
    N_("The studio could not save the finished video after %(n)s tries:"),
    N_("There is no file to download for this video."),
    N_("Saving the video failed:"),
    # the reasons a download failed (storage, services._store)
    N_("the provider's file could not be found at its download link (HTTP %(status)s)."),
    N_("an unexpected error (%(name)s)."),
    N_("the provider's file server could not be reached or stopped answering."),
    N_("the provider's file server answered %(status)s."),
    N_("the provider's file came too slowly."),
    N_("the result link answered %(status)s"),
    N_("The provider's download link is not a valid address."),
    N_("The provider's download link was refused: %(reason)s"),
    N_("The provider's download link redirected more than %(n)s times."),
    N_("The video file is larger than the studio accepts (%(mb)s MB)."),
    N_("The provider's file is not a playable video."),
    # models.Generation.mark_expired
    N_(
        "The provider's download link expired (links last 24 hours) before the studio saved "
        "the video. Generate it again to get a new one."
    ),
]

# Words that fill a parameter and are the studio's own, not the provider's.
VALUES = {
    "why": [
        N_("lost the answer"),
        N_("could not get an answer for an hour"),
        N_("stopped before the answer came"),
        N_("the provider refused it when asked again (%(message)s)"),
    ],
    "message": [N_("no details given")],
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
    # Chinese runs sentences together, as the prompts do (prompting._join).
    joiner = "" if (get_language() or "").startswith("zh") else " "
    return joiner.join(parts)
