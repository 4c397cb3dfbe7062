"""The compare page: two of the team's videos side by side, the prompt diff and the settings table."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.videos.compare import Segment, word_diff
from studio.videos.models import Derivation, Status
from tests.factories import make_generation, make_ready_generation


def compare_url(a, b=None) -> str:
    return reverse("compare") + f"?a={a.code}" + (f"&b={b.code}" if b else "")


@pytest.fixture
def pair(team_a, alice):
    first = make_ready_generation(team_a, alice, prompt="A red fox trots through fresh snow at dawn")
    second = make_ready_generation(
        team_a,
        alice,
        prompt="A red fox runs through fresh snow at dusk",
        aspect_ratio="9:16",
        parts={"camera": "slow dolly"},
        parent=first,
        lineage=first.lineage,
        derivation=Derivation.REMIXED,
    )
    return first, second


# --- The diff ---------------------------------------------------------------------


def test_the_diff_marks_changed_words_only():
    segments = word_diff("A red fox trots through snow.", "A red fox runs through deep snow.")
    assert segments == [
        Segment("same", "A red fox "),
        Segment("del", "trots"),
        Segment("ins", "runs"),
        Segment("same", " through "),
        Segment("ins", "deep "),
        Segment("same", "snow."),
    ]


def test_the_diff_of_chinese_works_character_by_character():
    segments = word_diff("一只红狐狸在雪中奔跑。", "一只白狐狸在雪中奔跑。")
    assert Segment("del", "红") in segments and Segment("ins", "白") in segments
    assert "".join(s.text for s in segments if s.op != "ins") == "一只红狐狸在雪中奔跑。"


def test_the_same_prompt_has_no_change():
    assert word_diff("Same words", "Same words") == [Segment("same", "Same words")]
    assert word_diff("", "") == []


# --- The page ---------------------------------------------------------------------


def test_it_shows_both_videos_the_diff_and_what_changed(alice_client, pair):
    first, second = pair
    response = alice_client.get(compare_url(first, second))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("data-compare-video") == 2
    assert reverse("generation_video", args=[first.code]) in html
    assert reverse("generation_video", args=[second.code]) in html
    assert '<del title="Only in A">trots</del><ins title="Only in B">runs</ins>' in html
    assert '<del title="Only in A">dawn</del><ins title="Only in B">dusk</ins>' in html
    assert "two versions of one video" in html
    # The settings table: the aspect ratio and the camera changed, the length did not.
    rows = html[html.index('class="compare-table"') :]
    assert '<tr class="is-changed">\n              <th scope="row">Aspect ratio' in rows
    assert '<tr class="is-changed">\n              <th scope="row">Camera' in rows
    assert '<tr class="is-same">\n              <th scope="row">Length asked' in rows
    assert "static/js/compare.js" in html or "/compare." in html


def test_the_wipe_mode_is_kept_in_the_address(alice_client, pair):
    first, second = pair
    html = alice_client.get(compare_url(first, second) + "&mode=wipe").content.decode()
    assert 'data-mode="wipe"' in html
    html = alice_client.get(compare_url(first, second) + "&mode=<script>").content.decode()
    assert 'data-mode="side"' in html


def test_a_video_not_ready_shows_its_status_instead_of_a_player(alice_client, team_a, alice, pair):
    first, _ = pair
    working = make_generation(team_a, alice, status=Status.PROCESSING, progress=40)
    failed = make_generation(
        team_a, alice, status=Status.FAILED, error_message="The provider refused the prompt."
    )
    html = alice_client.get(compare_url(first, working)).content.decode()
    assert html.count("data-compare-video") == 1
    assert "Processing" in html and "40%" in html
    html = alice_client.get(compare_url(failed, first)).content.decode()
    assert html.count("data-compare-video") == 1
    assert "The provider refused the prompt." in html
    # The one player there is the first of the sync's videos, and has the sound.
    assert '<option value="0">B</option>' in html


def test_two_videos_not_ready_show_no_player_and_no_500(alice_client, team_a, alice):
    one = make_generation(team_a, alice, status=Status.QUEUED)
    other = make_generation(team_a, alice, status=Status.UNKNOWN)
    response = alice_client.get(compare_url(one, other))
    assert response.status_code == 200 and "data-compare-video" not in response.content.decode()


def test_a_reviewer_may_compare(bob_client, pair):
    first, second = pair
    assert bob_client.get(compare_url(first, second)).status_code == 200
    assert bob_client.get(compare_url(first)).status_code == 200


def test_another_team_s_video_is_404(alice_client, team_b, charlie, pair):
    first, second = pair
    theirs = make_generation(team_b, charlie, status=Status.READY)
    assert alice_client.get(compare_url(first, theirs)).status_code == 404
    assert alice_client.get(compare_url(theirs, first)).status_code == 404
    assert alice_client.get(compare_url(theirs)).status_code == 404
    charlie_client = Client()
    charlie_client.force_login(charlie)
    assert charlie_client.get(compare_url(first, second)).status_code == 404


@pytest.mark.parametrize("query", ["?a=nonsense", "?a=00000000-0000-0000-0000-000000000000", "?a=x&b=x"])
def test_unknown_codes_are_404(alice_client, pair, query):
    assert alice_client.get(reverse("compare") + query).status_code == 404


@pytest.mark.parametrize("query", ["", "?a=", "?b=x"])
def test_without_a_it_offers_the_team_s_videos_to_pick_the_first(alice_client, team_b, charlie, pair, query):
    first, second = pair
    theirs = make_generation(team_b, charlie, prompt="Charlie's secret")
    response = alice_client.get(reverse("compare") + query)
    assert response.status_code == 200
    html = response.content.decode()
    assert f"?a={first.code}" in html and f"?a={second.code}" in html
    assert "&amp;b=" not in html and str(theirs.code) not in html


def test_an_unknown_b_is_404(alice_client, pair):
    first, _ = pair
    assert alice_client.get(reverse("compare") + f"?a={first.code}&b=nonsense").status_code == 404


def test_it_rejects_post(alice_client, pair):
    first, second = pair
    assert alice_client.post(compare_url(first, second)).status_code == 405


def test_signed_out_goes_to_sign_in(client, pair):
    first, second = pair
    response = client.get(compare_url(first, second))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_video_compared_with_itself_says_so(alice_client, pair):
    first, _ = pair
    html = alice_client.get(compare_url(first, first)).content.decode()
    assert "A and B are the same video." in html


# --- The picker (Compare with…) -----------------------------------------------------


def test_the_picker_offers_the_versions_first_then_the_team_s_videos(
    alice_client, team_a, team_b, alice, charlie, pair
):
    first, second = pair
    other = make_generation(team_a, alice, prompt="A lighthouse in a storm")
    theirs = make_generation(team_b, charlie, prompt="Charlie's secret")
    response = alice_client.get(compare_url(first))
    assert response.status_code == 200
    html = response.content.decode()
    versions = html[html.index('id="pick-versions"') : html.index('id="pick-recent"')]
    assert f"?a={first.code}&amp;b={second.code}" in versions and "Remixed" in versions
    recent = html[html.index('id="pick-recent"') :]
    assert f"?a={first.code}&amp;b={other.code}" in recent
    assert str(second.code) not in recent and f"b={first.code}" not in html
    assert "Charlie" not in html and str(theirs.code) not in html


def test_the_video_page_offers_compare_with(alice_client, pair):
    first, second = pair
    html = alice_client.get(reverse("generation_detail", args=[second.code])).content.decode()
    assert f'href="{reverse("compare")}?a={second.code}"' in html
    assert f"?a={first.code}&amp;b={second.code}" in html
