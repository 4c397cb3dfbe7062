from django.contrib.auth import views as auth_views
from django.urls import path, register_converter
from django.urls.converters import StringConverter

from studio.accounts import views
from studio.accounts.forms import StudioPasswordResetForm


class InvitationTokenConverter(StringConverter):
    regex = views.INVITATION_LINK_SHAPE


register_converter(InvitationTokenConverter, "invitation_token")

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("language/", views.set_language, name="set_language"),
    path(
        "password/change/",
        auth_views.PasswordChangeView.as_view(template_name="accounts/password_change.html"),
        name="password_change",
    ),
    path(
        "password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html"),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(
            form_class=StudioPasswordResetForm,
            template_name="accounts/password_reset.html",
            email_template_name="accounts/password_reset_email.txt",
            subject_template_name="accounts/password_reset_subject.txt",
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(template_name="accounts/password_reset_confirm.html"),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("team/", views.team_settings, name="team_settings"),
    path("team/rename/", views.team_rename, name="team_rename"),
    path("team/switch/", views.team_switch, name="team_switch"),
    path("team/leave/", views.team_leave, name="team_leave"),
    path("team/invitations/", views.invitation_create, name="invitation_create"),
    path("team/invitations/<uuid:code>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("team/members/<uuid:code>/role/", views.member_role, name="member_role"),
    path("team/members/<uuid:code>/remove/", views.member_remove, name="member_remove"),
    path("teams/new/", views.team_create, name="team_create"),
    path("invite/<invitation_token:token>/", views.invitation, name="invitation"),
]
