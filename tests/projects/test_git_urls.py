import pytest

from projects.git_urls import GitUrlError, repo_name_from_url, repo_owner_and_name, validate_git_url


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/user/react-app.git",
        "https://gitlab.example.com:8443/group/sub/repo",
        "ssh://git@github.com/user/repo.git",
        "ssh://git@host.example:2222/user/repo.git",
        "git@github.com:user/repo.git",
    ],
)
def test_it_accepts_remote_urls(url):
    assert validate_git_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::sh", "'ext::' transport"),
        ("fd::3", "'fd::' transport"),
        ("-uhttps://github.com/x/y", "must not start with '-'"),
        ("--upload-pack=touch /tmp/x", "whitespace"),
        ("https://github.com/user/repo\n", "whitespace"),
        ("https://github.com/us\x00er/repo", "control characters"),
        ("http://github.com/user/repo", "Use https://"),
        ("git://github.com/user/repo", "Use https://"),
        ("ftp://example.com/repo", "'ftp' is not supported"),
        ("https://user:token@github.com/user/repo", "Credentials"),
        ("https:///repo", "no valid host"),
        ("https://github.com", "no repository path"),
        ("https://github.com/-x", "must not start with '-'"),
        ("git@github.com:-oProxyCommand=x", "must not start with '-'"),
        ("/etc", "Local repositories are not allowed"),
        ("file:///etc", "Local repositories are not allowed"),
        ("react-app", "not a Git URL Butler accepts"),
        ("", "required"),
        ("https://github.com/" + "a" * 3000, "longer than"),
    ],
)
def test_it_refuses_with_a_reason(url, reason):
    with pytest.raises(GitUrlError) as excinfo:
        validate_git_url(url)
    assert reason in str(excinfo.value)


def test_local_paths_only_under_the_allowed_roots(settings, tmp_path):
    allowed = tmp_path / "repos"
    (allowed / "app").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(allowed)]
    assert validate_git_url(str(allowed / "app")) == (allowed / "app").as_uri()
    assert validate_git_url((allowed / "app").as_uri()) == (allowed / "app").as_uri()
    for url in [
        str(tmp_path / "elsewhere"),
        str(allowed / ".." / "elsewhere"),
        "file:///etc/passwd",
    ]:
        with pytest.raises(GitUrlError, match="outside the folders"):
            validate_git_url(url)
    with pytest.raises(GitUrlError, match="does not exist"):
        validate_git_url(str(allowed / "missing"))


def test_a_symlink_out_of_the_allowed_root_is_refused(settings, tmp_path):
    allowed = tmp_path / "repos"
    allowed.mkdir()
    (allowed / "sneaky").symlink_to("/etc")
    settings.BUTLER_LOCAL_GIT_ROOTS = [str(allowed)]
    with pytest.raises(GitUrlError, match="outside the folders"):
        validate_git_url(str(allowed / "sneaky"))


@pytest.mark.parametrize(
    ("url", "name", "owner_name"),
    [
        ("https://github.com/user/react-app.git", "react-app", "user-react-app"),
        ("git@github.com:org/backend.git", "backend", "org-backend"),
        ("ssh://git@host/team/api/", "api", "team-api"),
        ("/srv/repos/site", "site", "repos-site"),
    ],
)
def test_names_come_from_the_repository(url, name, owner_name):
    assert repo_name_from_url(url) == name
    assert repo_owner_and_name(url) == owner_name
