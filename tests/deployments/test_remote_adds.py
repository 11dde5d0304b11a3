"""`ADD <url>`: downloaded by Butler (checked, pinned), never by the Docker daemon."""

from __future__ import annotations

import pytest

from core.fetch import FetchFailed, fetch
from deployments.pipeline.remote_adds import RemoteAddRefused, localize_remote_adds


def fake_fetch(seen):
    def get(url):
        seen.append(url)
        return f"content of {url}".encode()

    return get


def test_a_remote_add_becomes_a_copy_of_the_fetched_file():
    seen = []
    text = (
        "FROM python:3.11-slim\n"
        "ARG TINI_VERSION=v0.19.0\n"
        "ADD https://github.com/krallin/tini/releases/download/${TINI_VERSION}/tini /tini\n"
        "RUN chmod +x /tini \\\n    && echo ok\n"
    )
    out, files = localize_remote_adds(text, build_args={}, fetch=fake_fetch(seen))
    assert seen == ["https://github.com/krallin/tini/releases/download/v0.19.0/tini"]
    assert out.splitlines()[2] == "COPY .butler-fetch/0/tini /tini"
    assert out.splitlines()[3:] == ["RUN chmod +x /tini \\", "    && echo ok"]  # untouched
    assert files == {".butler-fetch/0/tini": f"content of {seen[0]}".encode()}


def test_a_build_arg_wins_over_the_default_and_local_sources_stay_an_add():
    seen = []
    text = "FROM x\nARG V=1\nADD --chown=app:app local.tar.gz https://h.example/${V}/a.bin /opt/\n"
    out, _files = localize_remote_adds(text, build_args={"V": "2"}, fetch=fake_fetch(seen))
    assert seen == ["https://h.example/2/a.bin"]
    assert "ADD --chown=app:app local.tar.gz /opt/" in out  # still extracted, as ADD does
    assert "COPY --chown=app:app .butler-fetch/0/a.bin /opt/" in out


def test_a_dockerfile_without_remote_adds_comes_back_unchanged():
    text = "FROM x\n# ADD https://commented.out/\nADD src/ /app/\nCOPY . .\n"
    assert localize_remote_adds(text, build_args={}, fetch=fake_fetch([])) == (text, {})


def test_a_url_with_an_unknown_variable_is_refused():
    with pytest.raises(RemoteAddRefused, match="cannot tell what this variable holds"):
        localize_remote_adds("FROM x\nADD http://$HOST/x /x\n", build_args={}, fetch=fake_fetch([]))


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:9/secret", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://2130706433/", "loopback"),
        ("http://10.0.0.5/", "private network"),
    ],
)
def test_the_fetcher_refuses_this_machine_and_private_targets(url, rule):
    with pytest.raises(FetchFailed, match=rule):
        fetch(url, max_bytes=1024)
