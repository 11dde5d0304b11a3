"""The event outbox: how events cross from one process to another without Redis."""

from __future__ import annotations

from django.db import models


class OutboxEvent(models.Model):
    """One published event, written in the publisher's transaction when `REDIS_URL` is unset.

    Every web process reads new rows with one query per interval (`deployments.live.hub`)
    and fans them out to its WebSockets; the reconcile prunes old rows. A log batch refers
    to the `seq` range of its stored lines (`first_seq`, `last_seq` in `data`) instead of
    copying their text.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    type = models.CharField(max_length=64)
    user_id = models.BigIntegerField()
    deployment_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} #{self.id}"
