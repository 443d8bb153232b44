"""Create one demo user per role and print their passwords (development only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from integrations.roles import AUDITORS, FINANCE, INTEGRATION_ADMINS

DEMO_USERS = [
    # username, role group (None = superuser), what they do
    ("finance", FINANCE, "clears the review queue, reconciles payments"),
    ("integrator", INTEGRATION_ADMINS, "connects systems, edits flows and mappings"),
    ("auditor", AUDITORS, "reads everything, changes nothing"),
    ("admin", None, "superuser"),
]


def demo_password(username: str) -> str:
    """Stable on one machine (derived from its SECRET_KEY), unguessable from the repository."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo-user:{username}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:12].lower()


class Command(BaseCommand):
    help = "Create (or reset) the demo users of each role and print their passwords."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo users are for development only (DEBUG is false).")
        User = get_user_model()
        rows = []
        for username, role, duty in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            password = demo_password(username)
            user.set_password(password)
            user.is_staff = True
            user.is_superuser = role is None
            user.save()
            user.groups.set([Group.objects.get(name=role)] if role else [])
            rows.append((username, password, role or "Superuser", duty))
        width = max(len(r[0]) for r in rows)
        self.stdout.write("Demo users (log in at /admin/):")
        for username, password, role, duty in rows:
            self.stdout.write(f"  {username.ljust(width)}  password: {password}   {role}: {duty}")
