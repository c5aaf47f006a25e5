from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "emisario.console"
    label = "console"
