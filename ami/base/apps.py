from django.apps import AppConfig


class BaseConfig(AppConfig):
    name = "ami.base"
    label = "base"
