"""Django's own messages that its Simplified Chinese catalogue leaves in English, translated in ours.

Django looks in LOCALE_PATHS (locale/) before its own catalogues, so marking the same message
here puts the studio's translation first. Nothing calls _marked(): makemessages reads it.
"""

from django.utils.translation import gettext_noop, ngettext


def _marked() -> None:  # pragma: no cover - read by makemessages, never run
    # MinimumLengthValidator: Django 5.2 reworded it, and its zh_Hans catalogue has not caught up.
    ngettext(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        8,
    )
    # EmailValidator: Django's Chinese keeps the English word ("输入一个有效的 Email 地址。").
    gettext_noop("Enter a valid email address.")
