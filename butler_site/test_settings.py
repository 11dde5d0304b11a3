"""Settings for the test suite: a throwaway data dir, fast hashing, an isolated Docker label."""

import os
import secrets
import tempfile

_tmp = tempfile.mkdtemp(prefix="butler-test-")
os.environ["BUTLER_DATA_DIR"] = _tmp
os.environ.setdefault("BUTLER_MEDIA_DIR", os.path.join(_tmp, "media"))
os.environ["BUTLER_INSTANCE_ID"] = "test" + secrets.token_hex(4)
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
