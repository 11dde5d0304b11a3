"""OpenAPI: Butler's bearer authentication is simplejwt's, described the same way."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class VersionedJWTScheme(SimpleJWTScheme):
    target_class = "accounts.tokens.VersionedJWTAuthentication"
