from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from studio.accounts.access import member_required, other_memberships, switch_team
from studio.accounts.models import Membership
from studio.videos import gallery, media, prompting, review, services
from studio.videos.forms import ComposeForm, GalleryFilterForm, TaskIdForm
from studio.videos.models import IN_FLIGHT, Comment, Derivation, Favourite, Generation, ReviewStatus, Status
from studio.videos.review import CommentForm, EditForm, ReplyForm, ReviewForm

log = logging.getLogger(__name__)

# --- Access helpers: every view below goes through one of these ---------------


@dataclass(frozen=True)
class Allowed:
    """What the person may do with a generation, from their role (Membership's permissions)."""

    generate: bool  # remix it, send it again
    review: bool  # set its review status
    delete: bool

    def check(self, action: str) -> None:
        if not getattr(self, action):
            raise PermissionDenied(_REFUSALS[action])


_REFUSALS = {
    "generate": "Reviewers cannot generate videos.",
    "review": "Reviewers comment; owners, admins and creators set the review status.",
    "delete": "Only owners, admins and the author delete a video.",
}


def _get_generation_for_user(request: HttpRequest, code: uuid.UUID | str) -> tuple[Generation, Allowed]:
    """A generation of the current team (else 404), and what this person may do with it."""
    try:
        code = uuid.UUID(str(code))
    except ValueError:
        raise Http404("No such generation") from None
    generation = get_object_or_404(
        Generation.objects.select_related("team", "author"), team=request.team, code=code
    )
    membership = request.membership
    allowed = Allowed(
        generate=membership.can_generate,
        review=membership.can_review,
        delete=membership.may_delete(author_id=generation.author_id),
    )
    return generation, allowed


def _get_generation_to(request: HttpRequest, code: uuid.UUID | str, action: str) -> Generation:
    """The generation, if this person may do `action` with it (else 403; outsiders 404)."""
    generation, allowed = _get_generation_for_user(request, code)
    allowed.check(action)
    return generation


def _require_generate(request: HttpRequest) -> None:
    """Reviewers watch and comment; only creators, admins and owners generate."""
    if not request.membership.can_generate:
        raise PermissionDenied(_REFUSALS["generate"])


def _get_comment_for_user(request: HttpRequest, code: uuid.UUID) -> tuple[Comment, bool]:
    """A comment on one of the current team's generations (else 404), and whether it is yours."""
    comment = get_object_or_404(
        Comment.objects.select_related("author", "generation"), generation__team=request.team, code=code
    )
    return comment, comment.author_id == request.user.id


def _get_own_comment(request: HttpRequest, code: uuid.UUID, doing: str) -> Comment:
    """Your own comment (else 403; outsiders 404)."""
    comment, is_yours = _get_comment_for_user(request, code)
    if not is_yours:
        raise PermissionDenied(f"You can only {doing} your own comments.")
    return comment


def _get_comment_to_resolve(request: HttpRequest, code: uuid.UUID) -> Comment:
    """A comment whose thread this person may resolve or reopen (else 403; outsiders 404)."""
    comment, _ = _get_comment_for_user(request, code)
    thread = comment.parent or comment
    if not request.membership.may_resolve(
        comment_author_id=thread.author_id, video_author_id=comment.generation.author_id
    ):
        raise PermissionDenied("The comment's author, the video's author and team admins resolve comments.")
    return comment


# --- Gallery --------------------------------------------------------------------

# Query parameters that are about paging or the live refresh, not filters.
_NOT_FILTERS = ("after", "top", "v", "watch", "seen")


def _filters_from(
    request: HttpRequest, *, for_display: bool = True
) -> tuple[GalleryFilterForm, gallery.Filters, list[str]]:
    # The live refresh shows no filter bar: it asks for the team's people only
    # when there is an author to check.
    needs_authors = for_display or request.GET.get("author")
    form = GalleryFilterForm(request.GET, authors=gallery.authors(request.team) if needs_authors else [])
    filters, ignored = form.filters()
    return form, filters, ignored


def _filter_query(request: HttpRequest) -> str:
    """The filters of this request as a query string, for links that keep them."""
    query = request.GET.copy()
    for key in _NOT_FILTERS:
        query.pop(key, None)
    for key in [key for key, values in query.lists() if not any(values)]:
        query.pop(key)  # an empty filter is no filter: keep the URL short to read and bookmark
    return query.urlencode()


@member_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The team gallery: the page, its results (filters changed), or the next cards."""
    if request.htmx and request.GET.get("after"):
        template = "videos/gallery_page.html"
    elif request.htmx and request.htmx.target == "gallery-results":
        template = "videos/gallery_results.html"
    else:
        template = "videos/home.html"
    return render(request, template, _gallery_context(request))


def _gallery_context(request: HttpRequest) -> dict:
    after = request.GET.get("after")
    # Before the cards: a change made while they are read is newer than this.
    version = "" if after else gallery.newest_change(request.team)
    form, filters, ignored = _filters_from(request)
    page = gallery.gallery_page(team=request.team, user=request.user, filters=filters, after=after)
    return {
        "form": form,
        "filters": filters,
        "ignored": ignored,
        "page": page,
        "query": _filter_query(request),
        "top": gallery.encode_cursor(page.cards[0]) if page.cards and not after else "",
        "version": version,
        "can_generate": request.membership.can_generate,
    }


@member_required
@require_GET
def gallery_changes(request: HttpRequest) -> HttpResponse:
    """The gallery's live refresh: 204 when nothing changed, else only what did.

    The page says the newest `updated` it has seen (v) and sends the codes of
    its cards: while no row of the team is newer and those all exist, nothing
    can have changed (gallery.nothing_changed), whatever made the change.
    """
    watched = gallery.parse_watch(request.GET.getlist("watch"))
    seen = gallery.parse_seen(request.GET.getlist("seen"))
    since = request.GET.get("v", "")
    if gallery.nothing_changed(team=request.team, since=since, codes=[*watched, *seen]):
        return HttpResponse(status=204)
    version = gallery.newest_change(request.team)
    _, filters, _ = _filters_from(request, for_display=False)
    top = request.GET.get("top", "")
    changes = gallery.gallery_changes(
        team=request.team, user=request.user, filters=filters, top=top, watched=watched, seen=seen
    )
    if changes.overflow:
        return HttpResponseClientRefresh()
    query = _filter_query(request)
    if not changes.any:
        # Something of the team's moved, but nothing on this screen: the live
        # element again with the newer version, so the next ask is the quick one.
        return render(request, "videos/gallery_live.html", {"query": query, "top": top, "version": version})
    context = {
        "changes": changes,
        "query": query,
        "top": changes.top,
        "was_empty": not top,
        "version": version,
    }
    return render(request, "videos/gallery_changes.html", context)


# --- A video's page -------------------------------------------------------------


def _video_duration(generation: Generation) -> float | None:
    """How long the video a comment can point into is; None when there is none (failed, in flight)."""
    if generation.status != Status.READY or not generation.video:
        return None
    return generation.video_duration or float("inf")


def _comments_context(request: HttpRequest, generation: Generation) -> dict:
    """The comment threads, each marked with what this person may do with it."""
    threads = review.comment_threads(generation=generation)
    membership = request.membership
    for thread in [*threads.open, *threads.resolved]:
        thread.may_resolve = membership.may_resolve(
            comment_author_id=thread.author_id, video_author_id=generation.author_id
        )
        for comment in [thread, *thread.replies.all()]:
            comment.is_yours = comment.author_id == request.user.id
    return {"threads": threads, "has_video": _video_duration(generation) is not None}


def _detail_context(request: HttpRequest, generation: Generation, allowed: Allowed, **extra: object) -> dict:
    return {
        "generation": generation,
        # Read before the parts of the page, so a change made meanwhile is newer than it.
        "live": review.live_keys(generation=generation),
        "can_review": allowed.review,
        "can_generate": allowed.generate,
        "may_delete": allowed.delete,
        "is_favourite": Favourite.objects.filter(generation=generation, user=request.user).exists(),
        **_comments_context(request, generation),
        "comment_form": CommentForm(duration=_video_duration(generation)),
        "task_form": TaskIdForm(),
        **_review_context(generation),
        "parts": [
            (label, generation.parts.get(key))
            for key, label in prompting.PART_LABELS.items()
            if generation.parts.get(key)
        ],
        "negatives": [prompting.NEGATIVE_LABELS.get(key, key) for key in generation.negatives],
        "versions": gallery.versions_of(generation),
        **extra,
    }


def _review_context(generation: Generation) -> dict:
    return {
        "events": generation.review_events.select_related("actor")[:10],
        "review_choices": ReviewStatus.choices,
    }


@member_required
@require_GET
def generation_detail(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    try:
        generation, allowed = _get_generation_for_user(request, code)
    except Http404:
        # A teammate's link into another of this person's teams: open it there,
        # rather than a 404 that sends them looking for the team switcher.
        membership = None if request.htmx else _other_team_holding(request, code)
        if membership is None:
            raise
        switch_team(request, membership)
        messages.info(
            request, gettext("Switched to %(team)s to show this video.") % {"team": membership.team.name}
        )
        return redirect(request.get_full_path())
    return render(request, "videos/detail.html", _detail_context(request, generation, allowed))


def _other_team_holding(request: HttpRequest, code: uuid.UUID) -> Membership | None:
    """The person's membership of another team that has this generation, if there is one."""
    team_id = Generation.objects.filter(code=code).values_list("team_id", flat=True).first()
    return next((m for m in other_memberships(request, request.membership) if m.team_id == team_id), None)


@member_required
@require_GET
def generation_status(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """The page's progress box while in flight; once finished the page reloads with the player."""
    generation, _ = _get_generation_for_user(request, code)
    if not generation.in_flight and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "videos/detail_status.html", {"generation": generation})


def _download_name(generation: Generation, extension: str) -> str:
    words = slugify(" ".join(generation.prompt.split()[:6]), allow_unicode=True)[:60].strip("-")
    return f"omni-{words or 'video'}-{str(generation.code)[:8]}.{extension}"


@member_required
@require_http_methods(["GET", "HEAD"])
def generation_video(request: HttpRequest, code: uuid.UUID) -> HttpResponseBase:
    """The video file, for team members only, with Range so players can seek."""
    generation, _ = _get_generation_for_user(request, code)
    name = _download_name(generation, "mp4") if request.GET.get("download") == "1" else None
    return media.serve_file(request, generation.video, content_type="video/mp4", download_name=name)


@member_required
@require_http_methods(["GET", "HEAD"])
def generation_poster(request: HttpRequest, code: uuid.UUID) -> HttpResponseBase:
    generation, _ = _get_generation_for_user(request, code)
    return media.serve_file(request, generation.poster, content_type="image/jpeg")


def _back_to(generation: Generation, anchor: str = "") -> HttpResponse:
    return redirect(reverse("generation_detail", args=[generation.code]) + anchor)


def _require_video(generation: Generation) -> None:
    """Reviews and favourites are about a video: a generation without one has neither."""
    if generation.status != Status.READY:
        raise PermissionDenied("Only a finished video is reviewed or kept as a favourite.")


@member_required
@require_POST
def generation_review(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    generation, allowed = _get_generation_for_user(request, code)
    allowed.check("review")
    _require_video(generation)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Unknown review status.")
    review.set_review_status(generation=generation, actor=request.user, status=form.cleaned_data["status"])
    if request.htmx:
        context = {
            "generation": generation,
            "can_review": allowed.review,
            "live": review.live_keys(generation=generation),
            "live_oob": True,
            **_review_context(generation),
        }
        return render(request, "videos/detail_review_update.html", context)
    return _back_to(generation)


@member_required
@require_POST
def generation_favourite(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """Your own favourite mark; reviewers may keep favourites too, it changes nothing shared."""
    generation, _ = _get_generation_for_user(request, code)
    _require_video(generation)
    is_favourite = review.toggle_favourite(generation=generation, user=request.user)
    if request.htmx:
        context = {"generation": generation, "is_favourite": is_favourite}
        return render(request, "videos/detail_favourite.html", context)
    return _back_to(generation)


@member_required
@require_POST
def generation_regenerate(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    generation = _get_generation_to(request, code, "generate")
    version = review.regenerate(generation=generation, author=request.user)
    messages.success(request, gettext("Sent again with the same settings. This is the new version."))
    url = reverse("generation_detail", args=[version.code])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@member_required
@require_POST
def generation_delete(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    generation = _get_generation_to(request, code, "delete")
    review.delete_generation(generation=generation)
    messages.success(request, gettext("The video and its files are deleted."))
    url = reverse("home")
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@member_required
@require_POST
def generation_task(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """A team admin pastes the provider task of a generation whose outcome is unknown."""
    generation, allowed = _get_generation_for_user(request, code)
    if not request.membership.is_manager:
        raise PermissionDenied("Only owners and admins attach a provider task to a generation.")
    if generation.status != Status.UNKNOWN:
        # Settled meanwhile (or never in doubt): the page shows how it stands.
        messages.info(request, gettext("This generation is not waiting for a task id."))
        return _back_to(generation)
    form = TaskIdForm(request.POST)
    if form.is_valid():
        try:
            services.adopt_task(generation=generation, task_id=form.cleaned_data["task_id"])
        except services.AdoptRefused as exc:
            form.add_error("task_id", str(exc))
        else:
            messages.success(request, gettext("Task found and attached: the studio is fetching its video."))
            return _back_to(generation)
    context = _detail_context(request, generation, allowed, task_form=form)
    return render(request, "videos/detail.html", context, status=400)


# --- Comments -------------------------------------------------------------------


def _comments_changed(request: HttpRequest, generation: Generation, **extra: object) -> HttpResponse:
    """After a change to the comments, by htmx: the list and the page's live version, out of band.

    The forms that asked stay where they are (hx-swap="none"), except the one
    that says so itself (a new comment's form is swapped for an empty one).
    """
    context = {
        "generation": generation,
        "live": review.live_keys(generation=generation),
        **_comments_context(request, generation),
        **extra,
    }
    return render(request, "videos/detail_comment_update.html", context)


def _comment_form_page(
    request: HttpRequest, generation: Generation, allowed: Allowed, **forms: object
) -> HttpResponse:
    """Without htmx a refused form comes back on the whole page, with its errors and what was typed."""
    context = _detail_context(request, generation, allowed, **forms)
    return render(request, "videos/detail.html", context, status=400)


@member_required
@require_POST
def comment_add(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """Everyone in the team comments, reviewers included (drawing on the frame too)."""
    generation, allowed = _get_generation_for_user(request, code)
    form = CommentForm(request.POST, duration=_video_duration(generation))
    if form.is_valid():
        review.add_comment(
            generation=generation,
            author=request.user,
            body=form.cleaned_data["body"],
            at_seconds=form.cleaned_data["at_seconds"],
            end_seconds=form.cleaned_data["end_seconds"],
            drawing=form.cleaned_data["drawing"],
        )
        if not request.htmx:
            return _back_to(generation, "#comments")
        form = CommentForm(duration=_video_duration(generation))
    elif not request.htmx:
        return _comment_form_page(request, generation, allowed, comment_form=form)
    return _comments_changed(request, generation, comment_form=form, with_form=True)


@member_required
@require_POST
def comment_reply(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """A reply in the comment's thread; anyone in the team may reply."""
    comment, _ = _get_comment_for_user(request, code)
    generation = comment.generation
    form = ReplyForm(request.POST)
    if form.is_valid():
        review.reply_to(comment=comment, author=request.user, body=form.cleaned_data["body"])
        if not request.htmx:
            return _back_to(generation, f"#comment-{(comment.parent or comment).code}")
        return _comments_changed(request, generation)
    thread = comment.parent or comment
    if not request.htmx:
        _, allowed = _get_generation_for_user(request, generation.code)
        return _comment_form_page(request, generation, allowed, reply_form=form, reply_to=thread.code)
    return _comments_changed(request, generation, reply_form=form, reply_to=thread.code)


@member_required
@require_POST
def comment_resolve(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    comment = _get_comment_to_resolve(request, code)
    review.resolve_comment(comment=comment, user=request.user)
    return (
        _comments_changed(request, comment.generation)
        if request.htmx
        else _back_to(comment.generation, "#comments")
    )


@member_required
@require_POST
def comment_reopen(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    comment = _get_comment_to_resolve(request, code)
    review.reopen_comment(comment=comment)
    thread = comment.parent or comment
    if not request.htmx:
        return _back_to(comment.generation, f"#comment-{thread.code}")
    return _comments_changed(request, comment.generation)


@member_required
@require_GET
def comment_detail(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """One comment as the list shows it (the editor's Cancel)."""
    comment, comment.is_yours = _get_comment_for_user(request, code)
    thread = comment.parent or comment
    comment.may_resolve = request.membership.may_resolve(
        comment_author_id=thread.author_id, video_author_id=comment.generation.author_id
    )
    return render(
        request, "videos/detail_comment_body.html", {"comment": comment, "generation": comment.generation}
    )


@member_required
@require_http_methods(["GET", "POST"])
def comment_edit(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    comment = _get_own_comment(request, code, "edit")
    form = EditForm(request.POST or None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        review.edit_comment(comment=comment, body=form.cleaned_data["body"])
        if not request.htmx:
            return _back_to(comment.generation, "#comments")
        return _comments_changed(request, comment.generation)
    template = "videos/detail_comment_edit.html" if request.htmx else "videos/detail_comment_edit_page.html"
    # A refused edit by htmx comes back out of band, in the editor's place, with the error.
    context = {"comment": comment, "form": form, "oob": request.method == "POST"}
    return render(
        request, template, context, status=400 if request.method == "POST" and not request.htmx else 200
    )


@member_required
@require_POST
def comment_delete(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    comment = _get_own_comment(request, code, "delete")
    generation = comment.generation
    review.delete_comment(comment=comment)
    if request.htmx:
        return _comments_changed(request, generation)
    return _back_to(generation, "#comments")


# --- The live video page --------------------------------------------------------


@member_required
@require_GET
def generation_changes(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """An open video page's live refresh: 204 while nothing changed, else only the parts that did.

    The page says the version it has seen (v) and a token per live part
    (comments, review, versions): one query answers whether anything moved
    (review.page_version); only then is the rest read, and only the parts
    whose token moved are sent, out of band, with the live element again.
    """
    since = request.GET.get("v", "")
    version = review.page_version(team=request.team, code=code)
    if version is None:
        # Deleted meanwhile (or never the team's): a 404 that says so where the page is
        # (review.js swaps it in), and no trigger to ask again.
        return render(request, "videos/detail_live_gone.html", status=404)
    if version == since:
        return HttpResponse(status=204)
    generation, allowed = _get_generation_for_user(request, code)
    shown_status = request.GET.get("s", "")
    if shown_status != generation.status and not (shown_status in IN_FLIGHT and generation.in_flight):
        # Finished, or settled by hand: the player and the actions change with it.
        return HttpResponseClientRefresh()
    live = review.live_keys(generation=generation)
    if live is None:
        return render(request, "videos/detail_live_gone.html", status=404)
    send = {
        "comments": request.GET.get("c") != live.comments,
        "review": request.GET.get("r") != live.review and generation.status == Status.READY,
        "versions": request.GET.get("n") != live.versions,
    }
    context = {"generation": generation, "live": live, "send": send, "can_review": allowed.review}
    context["news"] = review.news_since(
        generation=generation, since=review.version_moment(since), user=request.user
    )
    if send["comments"]:
        context.update(_comments_context(request, generation))
    if send["review"]:
        context.update(_review_context(generation))
    if send["versions"]:
        context["versions"] = gallery.versions_of(generation)
    return render(request, "videos/detail_changes.html", context)


# --- Compose --------------------------------------------------------------------

REVIEWER_REASON = gettext_lazy(
    "Reviewers can watch and comment; ask an owner or admin for the creator role to generate."
)


def _preview_context(form: ComposeForm) -> dict:
    """What will be sent, built from the form as it is now (valid or not)."""
    draft = form.draft()
    compiled = draft.compiled
    body = prompting.request_body(draft, with_callback=services.callbacks_enabled())
    return {
        "draft": draft,
        "compiled": compiled,
        "compiled_length": len(compiled),
        "max_prompt_chars": prompting.MAX_PROMPT_CHARS,
        "over_limit": len(compiled) > prompting.MAX_PROMPT_CHARS,
        "over_by": max(0, len(compiled) - prompting.MAX_PROMPT_CHARS),
        "request_json": json.dumps(body, indent=2, ensure_ascii=False),
        "estimate": services.estimate_for(draft.duration),
        "hints": prompting.hints(draft),
    }


def _compose_context(request: HttpRequest, form: ComposeForm, **extra: object) -> dict:
    return {
        "form": form,
        "can_generate": request.membership.can_generate,
        "reviewer_reason": REVIEWER_REASON,
        "recent": gallery.recent_cards(team=request.team, user=request.user),
        **_preview_context(form),
        **extra,
    }


@member_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _require_generate(request)
        form = ComposeForm(request.POST)
        source = _remix_source(request)
        if not form.is_valid():
            template = "videos/compose_form.html" if request.htmx else "videos/compose.html"
            return render(request, template, _compose_context(request, form, remix_of=source))
        generation = services.create_generation(
            team=request.team,
            author=request.user,
            draft=form.cleaned_draft,
            parent=source,
            derivation=Derivation.REMIXED,
        )
        if not request.htmx:
            return redirect(f"{request.path}?sent={generation.code}")
        # The form keeps every value (people iterate on a prompt); the list
        # of recent generations is swapped out of band with the new one on top.
        form = ComposeForm(initial=form.cleaned_data)
        context = _compose_context(request, form, sent=generation, recent_oob=True, remix_of=source)
        return render(request, "videos/compose_form.html", context)

    source = None
    if code := request.GET.get("from"):
        source, _ = _get_generation_for_user(request, code)
        form = ComposeForm.from_generation(source)
    else:
        form = ComposeForm()
    sent = None
    if sent_code := request.GET.get("sent"):
        try:
            sent, _ = _get_generation_for_user(request, sent_code)
        except Http404:
            sent = None
    return render(request, "videos/compose.html", _compose_context(request, form, sent=sent, remix_of=source))


def _remix_source(request: HttpRequest) -> Generation | None:
    """The generation a composer opened with Remix was filled from (its hidden remix_of), if still the team's.

    What is generated from it is a new version of it, in its lineage; a source
    deleted meanwhile (or a code that is not the team's) makes a new video instead.
    """
    try:
        source, _ = _get_generation_for_user(request, request.POST.get("remix_of", ""))
    except Http404:
        return None
    return source


@member_required
@require_POST
def compose_preview(request: HttpRequest) -> HttpResponse:
    """The live preview: the final prompt, the JSON body, the estimate and hints."""
    form = ComposeForm(request.POST)
    return render(request, "videos/compose_preview.html", _preview_context(form))


@member_required
@require_GET
def compose_card(request: HttpRequest, code: uuid.UUID) -> HttpResponse:
    """One recent generation; it polls itself while in flight and stops when finished."""
    generation, _ = _get_generation_for_user(request, code)
    card = gallery.recent_cards(team=request.team, user=request.user, code=generation.code)
    return render(request, "videos/compose_card.html", {"recent": card})


# --- Provider callbacks ---------------------------------------------------------


@csrf_exempt
def evolink_callback(request: HttpRequest, rest: str) -> HttpResponse:
    """The provider says a task finished: a hint to look again, answered at once.

    The URL carries a secret token, so nothing here may log the path: every
    answer is 204 (a forged or unknown one too, which also tells a prober
    nothing), and a wrong method's 405 is marked as already logged so Django's
    request logger does not print the path either.
    """
    if request.method != "POST":
        response = HttpResponse(status=405, headers={"Allow": "POST"})
        response._has_been_logged = True  # Django's log_response skips it: no token in the logs
        return response
    code, _, token = rest.rstrip("/").partition("/")
    try:
        services.handle_callback(code=code, token=token, body=request.read(64 * 1024))
    except Exception:
        # A 500 here would have Django's request logger print the path, token and all;
        # the poll finds the outcome anyway, so a failed hint costs nothing.
        log.exception("A provider callback could not be handled; answered 204")
    return HttpResponse(status=204)
