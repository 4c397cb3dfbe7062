from django.urls import path

from studio.videos import compare, jsi18n, keys, views

urlpatterns = [
    path("", views.home, name="home"),
    path("gallery/changes/", views.gallery_changes, name="gallery_changes"),
    path("videos/<uuid:code>/", views.generation_detail, name="generation_detail"),
    path("videos/<uuid:code>/changes/", views.generation_changes, name="generation_changes"),
    path("videos/<uuid:code>/status/", views.generation_status, name="generation_status"),
    path("videos/<uuid:code>/video.mp4", views.generation_video, name="generation_video"),
    path("videos/<uuid:code>/poster.jpg", views.generation_poster, name="generation_poster"),
    path("videos/<uuid:code>/review/", views.generation_review, name="generation_review"),
    path("videos/<uuid:code>/favourite/", views.generation_favourite, name="generation_favourite"),
    path("videos/<uuid:code>/regenerate/", views.generation_regenerate, name="generation_regenerate"),
    path("videos/<uuid:code>/delete/", views.generation_delete, name="generation_delete"),
    path("videos/<uuid:code>/task/", views.generation_task, name="generation_task"),
    path("videos/<uuid:code>/comments/", views.comment_add, name="comment_add"),
    path("compare/", compare.compare, name="compare"),
    path("comments/<uuid:code>/", views.comment_detail, name="comment_detail"),
    path("comments/<uuid:code>/edit/", views.comment_edit, name="comment_edit"),
    path("comments/<uuid:code>/delete/", views.comment_delete, name="comment_delete"),
    path("comments/<uuid:code>/reply/", views.comment_reply, name="comment_reply"),
    path("comments/<uuid:code>/resolve/", views.comment_resolve, name="comment_resolve"),
    path("comments/<uuid:code>/reopen/", views.comment_reopen, name="comment_reopen"),
    # The team's EvoLink key, on the team settings page.
    path("team/key/", keys.team_key_save, name="team_key_save"),
    path("team/key/remove/", keys.team_key_remove, name="team_key_remove"),
    path("team/key/test/", keys.team_key_test, name="team_key_test"),
    path("compose/", views.compose, name="compose"),
    path("compose/preview/", views.compose_preview, name="compose_preview"),
    path("compose/card/<uuid:code>/", views.compose_card, name="compose_card"),
    # The browser scripts' translations, one file per language and catalogue version.
    path("jsi18n.js", jsi18n.javascript_catalog, name="javascript_catalog"),
    # One catch-all: any path under hooks/evolink/ is answered by the view, never a logged 404.
    path("hooks/evolink/<path:rest>", views.evolink_callback, name="evolink_callback"),
]
