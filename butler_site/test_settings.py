"""Settings for the test suite: a throwaway data dir, fast hashing, an isolated Docker label.

A `manage.py` subprocess started by a test inherits the parent's data dir and instance id
(through the environment), so the whole run shares one temp dir that the session removes.
"""

import os
import secrets
import tempfile

_tmp = os.environ.get("BUTLER_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="butler-test-")
os.environ["BUTLER_TEST_DATA_DIR"] = _tmp
os.environ["BUTLER_DATA_DIR"] = _tmp
os.environ.setdefault("BUTLER_MEDIA_DIR", os.path.join(_tmp, "media"))
os.environ["BUTLER_INSTANCE_ID"] = os.environ.get(
    "BUTLER_TEST_INSTANCE_ID"
) or "test" + secrets.token_hex(4)
os.environ["BUTLER_TEST_INSTANCE_ID"] = os.environ["BUTLER_INSTANCE_ID"]
# Compose project names must not collide with a Butler running on the same engine.
os.environ["BUTLER_COMPOSE_PREFIX"] = os.environ["BUTLER_INSTANCE_ID"]
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)

from butler_site.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# A file database (not SQLite's shared in-memory one) so concurrency tests see real locking.
DATABASES["default"]["TEST"] = {"NAME": os.path.join(_tmp, "test.sqlite3")}  # noqa: F405
# The tests of logic talk to an in-memory proxy; tests marked `docker` get a real Caddy
# (tests/docker_fixtures.py). Replaced containers go at once unless a test asks for a grace.
BUTLER_PROXY = "deployments.proxy.fake.FakeProxy"
BUTLER_RETIRE_SECONDS = 0.0
