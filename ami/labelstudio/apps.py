from django.apps import AppConfig


class LabelStudioConfigApp(AppConfig):
    name = "ami.labelstudio"
    label = "labelstudio"
    default_auto_field = "django.db.models.BigAutoField"
