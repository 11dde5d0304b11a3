from django.conf import settings
from django.core.management.base import BaseCommand
from django_q.models import Schedule


class Command(BaseCommand):
    help = "Register Butler's periodic jobs with the worker (idempotent)."

    def handle(self, *args, **options):
        Schedule.objects.update_or_create(
            name="butler-reconcile",
            defaults={
                "func": "deployments.tasks.reconcile",
                "schedule_type": Schedule.MINUTES,
                "minutes": settings.BUTLER_RECONCILE_MINUTES,
                "repeats": -1,
            },
        )
        self.stdout.write("Scheduled: butler-reconcile")
