from django.contrib import admin

from studio.videos.models import Comment, Generation


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["code", "team", "author", "status", "progress", "review_status", "created"]
    list_filter = ["status", "review_status", "aspect_ratio"]
    search_fields = ["compiled_prompt", "task_id", "code"]
    raw_id_fields = ["author", "parent"]
    # Only the hash is stored, but it has no business on a page either.
    exclude = ["callback_token_hash"]
    readonly_fields = ["task_id", "provider_task", "usage", "video", "poster"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["generation", "author", "at_seconds", "created"]
    raw_id_fields = ["generation", "author"]
    list_select_related = ["generation"]
