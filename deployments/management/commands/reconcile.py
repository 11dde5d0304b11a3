from django.core.management.base import BaseCommand

from deployments.reconcile import reconcile


class Command(BaseCommand):
    help = (
        "Fail deployments whose worker died and remove what they half-made, hand queued "
        "deployments to workers, remove Docker leftovers of deleted projects, mark vanished "
        "containers."
    )

    def handle(self, *args, **options):
        report = reconcile()
        self.stdout.write(f"reconcile: {report}")
