from django.core.management.base import BaseCommand

from deployments.reconcile import reconcile


class Command(BaseCommand):
    help = "Fail stuck deployments, remove Docker leftovers of deleted projects, mark vanished containers."

    def add_arguments(self, parser):
        parser.add_argument(
            "--startup",
            action="store_true",
            help="The worker is starting: every deployment still in progress lost its task.",
        )

    def handle(self, *args, startup: bool, **options):
        report = reconcile(startup=startup)
        self.stdout.write(f"reconcile: {report}")
