from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "emisario.demo"
    label = "demo"
