import pytest

from gitsources import (
    BranchError,
    GitUrlError,
    repo_name_from_url,
    validate_branch,
    validate_git_url,
)


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
    ("url", "name"),
    [
        ("https://github.com/user/react-app.git", "react-app"),
        ("git@github.com:org/backend.git", "backend"),
        ("ssh://git@host/team/api/", "api"),
        ("/srv/repos/site", "site"),
    ],
)
def test_names_come_from_the_repository(url, name):
    assert repo_name_from_url(url) == name


@pytest.mark.parametrize(
    "branch", ["main", "release/1.2", "feature/x_y+z", "v1.0", "a.b-c", "user/topic.part"]
)
def test_it_accepts_branches_git_accepts(branch):
    assert validate_branch(branch) == branch


@pytest.mark.parametrize(
    "branch",
    [
        "release.",  # passed the API once and then failed in the worker
        "-delete",
        ".hidden",
        "a/.hidden",
        "a..b",
        "a//b",
        "trailing/",
        "x.lock",
        "x.lock/y",
        "at@{1}",
        "sp ace",
        "semi;colon",
        "$(id)",
        "b" * 256,
    ],
)
def test_it_refuses_branches_git_or_a_shell_would_misread(branch):
    with pytest.raises(BranchError, match="not a valid branch name"):
        validate_branch(branch)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://127.0.0.1/x/y.git", "loopback"),
        ("https://localhost/x/y.git", "loopback"),
        ("https://2130706433/x/y.git", "loopback"),  # 127.0.0.1 as one number
        ("https://0x7f000001/x/y.git", "loopback"),  # ... in hex
        ("https://0177.0.0.1/x/y.git", "loopback"),  # ... in octal
        ("https://[::1]/x/y.git", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("ssh://git@127.0.0.1:2222/x/y.git", "loopback"),
        ("git@127.0.0.1:x/y.git", "loopback"),
        ("https://0.0.0.0/x/y.git", "not an address"),
        # A private address is refused as such, or, when a Docker network of this machine
        # happens to hold it (the engine hands out 192.168.x.0/20 once 172.x runs out), as
        # this machine's: refused either way.
        ("https://10.1.2.3/x/y.git", "private network|this machine"),
        ("https://192.168.1.10/x/y.git", "private network|this machine"),
        ("https://172.17.0.1/x/y.git", "this machine"),  # the Docker bridge's gateway
    ],
)
def test_it_refuses_hosts_that_resolve_inside(url, rule):
    from gitsources import check_git_source

    with pytest.raises(GitUrlError, match=rule) as refused:
        check_git_source(url)
    assert "port" not in str(refused.value).lower()  # nothing was connected to


def test_a_private_git_server_can_be_allowed_by_name_or_range(settings):
    from gitsources import check_git_source

    settings.BUTLER_GIT_ALLOWED_HOSTS = ["10.0.0.0/8"]
    assert check_git_source("https://10.1.2.3/team/app.git")
    settings.BUTLER_GIT_ALLOWED_HOSTS = ["10.9.9.9/32"]
    with pytest.raises(GitUrlError, match="BUTLER_GIT_ALLOWED_HOSTS"):
        check_git_source("https://10.1.2.3/team/app.git")
    settings.BUTLER_GIT_ALLOWED_HOSTS = ["10.0.0.0/8"]
    with pytest.raises(GitUrlError, match="loopback"):  # never this machine, whatever it says
        check_git_source("https://127.0.0.1/team/app.git")


@pytest.mark.parametrize(
    "url",
    [
        "https://ghp_secrettoken@github.com/user/private.git",
        "https://user:secret@github.com/user/private.git",
        "ssh://git:secret@github.com/user/private.git",
    ],
)
def test_credentials_in_a_url_are_refused_with_what_to_do_instead(url):
    with pytest.raises(GitUrlError, match="access token for the project"):
        validate_git_url(url)


@pytest.mark.parametrize(
    "url",
    ["ssh://-oProxyCommand=touch%20x@github.com/a/b.git", "-oProxyCommand=touch@host:a/b"],
)
def test_an_ssh_user_or_url_starting_with_a_dash_is_refused(url):
    with pytest.raises(GitUrlError, match="'-'"):
        validate_git_url(url)
