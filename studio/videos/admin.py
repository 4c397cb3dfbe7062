from django.contrib import admin

from studio.accounts.models import Team
from studio.videos.models import Comment, Generation


class GalleryChangeAdmin(admin.ModelAdmin):
    """Moves the team's gallery version on with every change made here, as the services do.

    Gallery pages are cached under that version (views.home), so an edit that
    did not move it would stay out of sight until the team's next change.
    """

    def team_id_of(self, obj) -> int:
        return obj.team_id

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        Team.gallery_changed(self.team_id_of(obj))

    def delete_model(self, request, obj) -> None:
        team_id = self.team_id_of(obj)
        super().delete_model(request, obj)
        Team.gallery_changed(team_id)

    def delete_queryset(self, request, queryset) -> None:
        team_ids = {self.team_id_of(obj) for obj in queryset}
        super().delete_queryset(request, queryset)
        for team_id in team_ids:
            Team.gallery_changed(team_id)


@admin.register(Generation)
class GenerationAdmin(GalleryChangeAdmin):
    list_display = ["code", "team", "author", "status", "progress", "review_status", "created"]
    list_filter = ["status", "review_status", "aspect_ratio"]
    search_fields = ["compiled_prompt", "task_id", "code"]
    raw_id_fields = ["author", "parent"]
    # Only the hash is stored, but it has no business on a page either.
    exclude = ["callback_token_hash"]
    readonly_fields = ["task_id", "provider_task", "usage", "video", "poster"]


@admin.register(Comment)
class CommentAdmin(GalleryChangeAdmin):
    list_display = ["generation", "author", "at_seconds", "created"]
    raw_id_fields = ["generation", "author"]
    list_select_related = ["generation"]

    def team_id_of(self, obj) -> int:
        return obj.generation.team_id
