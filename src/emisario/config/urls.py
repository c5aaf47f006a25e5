from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from emisario.console.views import oauth

urlpatterns = [
    path("", include("emisario.console.urls")),
    path(
        "acceso/",
        auth_views.LoginView.as_view(template_name="emisario/login.html"),
        name="login",
    ),
    path("salir/", auth_views.LogoutView.as_view(), name="logout"),
    path("idioma/", set_language, name="set_language"),
    # The redirect URI registered at Microsoft and Google (README): keep this path.
    path("oauth/callback/", oauth.callback, name="oauth_callback"),
    path("admin/", admin.site.urls),
]

# The demo's pages exist only where the demo is installed (bin/demo, the tests); a deployment
# leaves the app out and so never imports its mailbox (aiosmtpd, trustme).
if apps.is_installed("emisario.demo"):
    urlpatterns.append(path("demo/", include("emisario.demo.urls")))

handler403 = "emisario.console.views.errors.forbidden"
