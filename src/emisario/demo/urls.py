"""The demo's pages, included under ``/demo/`` only when the demo app is installed."""

from django.urls import path

from emisario.demo import views

app_name = "demo"

urlpatterns = [
    path("buzon/", views.mailbox, name="mailbox"),
]
