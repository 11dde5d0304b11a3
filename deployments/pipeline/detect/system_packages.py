"""Debian packages that well-known Python packages need to build or run.

Some packages never ship wheels and always compile against a C library (`psycopg2`,
`mysqlclient`, `python-ldap`, ...): their compilers and headers go into the build stage,
and the libraries the compiled modules link to are found there (`ldd`) and installed in the
final image. Others nearly always install from a wheel, so their build packages are only
installed when pip finds none and must compile (an old pin on a new Python). A few load a C
library at run time without linking to it (psycopg 3 finds libpq with ctypes).

Names are Debian's, valid on bookworm and trixie (the official `python:*-slim` images).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# pip name (normalised) -> Debian packages to compile it
ALWAYS_COMPILED: dict[str, tuple[str, ...]] = {
    "psycopg2": ("gcc", "libpq-dev"),
    "psycopg-c": ("gcc", "libpq-dev"),
    "mysqlclient": ("gcc", "pkg-config", "default-libmysqlclient-dev"),
    "python-ldap": ("gcc", "libldap2-dev", "libsasl2-dev"),
    "pycairo": ("gcc", "pkg-config", "libcairo2-dev"),
    "pygraphviz": ("gcc", "libgraphviz-dev"),
    "pylibmc": ("gcc", "libmemcached-dev", "zlib1g-dev"),
    "m2crypto": ("gcc", "swig", "libssl-dev"),
    "uwsgi": ("gcc",),
}
# pip name -> Debian packages to compile it when no wheel fits
USUALLY_WHEELS: dict[str, tuple[str, ...]] = {
    "lxml": ("gcc", "libxml2-dev", "libxslt1-dev"),
    "pillow": ("gcc", "libjpeg-dev", "zlib1g-dev", "libfreetype-dev"),
    "cffi": ("gcc", "libffi-dev"),
    "cryptography": ("gcc", "libssl-dev", "libffi-dev"),
    "psutil": ("gcc",),
    "pyyaml": ("gcc", "libyaml-dev"),
    "numpy": ("gcc", "g++"),
    "pandas": ("gcc", "g++"),
    "regex": ("gcc",),
    "ujson": ("gcc", "g++"),
    "grpcio": ("gcc", "g++"),
    "xmlsec": ("gcc", "pkg-config", "libxmlsec1-dev", "libxml2-dev"),
    "pymssql": ("gcc", "freetds-dev"),
    "pyodbc": ("gcc", "g++", "unixodbc-dev"),
    "gevent": ("gcc",),
    "greenlet": ("gcc", "g++"),
    "mysql-python": ("gcc", "default-libmysqlclient-dev"),
}
# pip name -> Debian packages whose libraries it loads at run time without linking
RUNTIME_LOADED: dict[str, tuple[str, ...]] = {
    "psycopg": ("libpq5",),
    "pyodbc": ("unixodbc",),
}
# Extras that bring their own binaries: no system package then.
SELF_CONTAINED_EXTRAS = {"psycopg": {"binary"}}


@dataclass
class SystemPackages:
    build: list[str] = field(default_factory=list)
    runtime: list[str] = field(default_factory=list)
    fallback: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # the Python packages that need them


def _add(target: list[str], packages: tuple[str, ...]) -> None:
    for package in packages:
        if package not in target:
            target.append(package)


def system_packages(names: set[str], extras: dict[str, set[str]] | None = None) -> SystemPackages:
    """What the Python packages `names` (normalised, with their `extras`) need from Debian."""
    extras = extras or {}
    out = SystemPackages()
    for name in sorted(names):
        chosen = extras.get(name, set())
        if chosen & SELF_CONTAINED_EXTRAS.get(name, set()):
            continue
        if name == "psycopg" and "c" in chosen:
            _add(out.build, ALWAYS_COMPILED["psycopg-c"])
            out.reasons.append("psycopg[c]")
            continue
        if ALWAYS_COMPILED.get(name):
            _add(out.build, ALWAYS_COMPILED[name])
            out.reasons.append(name)
        if name in RUNTIME_LOADED:
            _add(out.runtime, RUNTIME_LOADED[name])
            if name not in out.reasons:
                out.reasons.append(name)
        if name in USUALLY_WHEELS:
            _add(out.fallback, USUALLY_WHEELS[name])
    out.fallback = [p for p in out.fallback if p not in out.build]
    return out
