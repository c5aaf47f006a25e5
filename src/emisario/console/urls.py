from django.urls import path, re_path

from emisario.console.views import history, menu, oauth, oauth_apps, smtp

app_name = "console"

urlpatterns = [
    path("", menu.menu, name="menu"),
    path(
        "cxc/sistema/envio-de-correos/smtp/",
        smtp.smtp_screen,
        {"route": "cxc"},
        name="smtp_cxc",
    ),
    path(
        "emisario/sistema/configuracion/smtp/",
        smtp.smtp_screen,
        {"route": "emisario"},
        name="smtp_emisario",
    ),
    path(
        "cxc/sistema/envio-de-correos/smtp/historial/",
        history.history,
        {"route": "cxc"},
        name="history_cxc",
    ),
    path(
        "emisario/sistema/configuracion/smtp/historial/",
        history.history,
        {"route": "emisario"},
        name="history_emisario",
    ),
    re_path(
        r"^(?P<route>cxc|emisario)/cuentas/(?P<pk>[0-9]+)/eliminar/$",
        smtp.account_remove,
        name="account_remove",
    ),
    re_path(
        r"^(?P<route>cxc|emisario)/sistema/aplicaciones-oauth/$",
        oauth_apps.applications,
        name="oauth_apps",
    ),
    re_path(
        r"^(?P<route>cxc|emisario)/cuentas/(?P<pk>[0-9]+)/conectar/$",
        oauth.connect,
        name="oauth_connect",
    ),
    re_path(
        r"^(?P<route>cxc|emisario)/cuentas/(?P<pk>[0-9]+)/desconectar/$",
        oauth.disconnect,
        name="oauth_disconnect",
    ),
]
