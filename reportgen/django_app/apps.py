from django.apps import AppConfig


class ReportgenConfig(AppConfig):
    name = "reportgen.django_app"
    label = "reportgen"
    verbose_name = "reportgen incident assessment"
