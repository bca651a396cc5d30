from django.apps import AppConfig
from django.db.models.signals import pre_migrate


class ReportgenConfig(AppConfig):
    name = "reportgen.django_app"
    label = "reportgen"
    verbose_name = "reportgen incident assessment"

    def ready(self) -> None:
        from reportgen.django_app.baseline_hook import take_baseline

        # Once per migrate run with migrations to apply (the receiver sees to that), when a
        # baseline store is named; see baseline_hook.
        pre_migrate.connect(take_baseline, dispatch_uid="reportgen-baseline")
