from django.core.management.base import BaseCommand, CommandError

from deployments.proxy import ProxyFailure, routes_push, routing_table
from deployments.proxy.runner import wait_for_admin


class Command(BaseCommand):
    help = (
        "Push the whole routing table (every project's port, names and domains) to the front "
        "proxy. The supervisor runs it after it starts a dead Caddy again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait", type=float, default=0, help="Seconds to wait for the proxy to answer."
        )

    def handle(self, *args, wait: float, **options):
        if wait and not wait_for_admin(wait):
            raise CommandError(f"The front proxy did not answer within {wait:g} s.")
        try:
            routes_push(strict=True)
        except ProxyFailure as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Routes pushed: {len(routing_table().routes)}")
