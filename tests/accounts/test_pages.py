import pytest

from accounts.models import User
from tests.conftest import PASSWORD


@pytest.mark.django_db
class TestSessionPages:
    def test_register_creates_the_user_and_logs_in(self, client):
        response = client.post(
            "/accounts/register/",
            {"username": "erin", "email": "erin@example.com", "password": "a-long-passphrase-9"},
        )
        assert response.status_code == 302
        assert User.objects.filter(username="erin").exists()
        assert client.get("/").status_code == 200

    def test_register_shows_form_errors(self, client, alice):
        response = client.post(
            "/accounts/register/",
            {"username": "alice", "email": "new@example.com", "password": "123"},
        )
        assert response.status_code == 200
        page = response.content.decode()
        assert "already exists" in page and "too short" in page

    def test_login_and_logout(self, client, alice):
        assert client.get("/").status_code == 302  # the dashboard needs a session
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert response.status_code == 302
        assert "alice" in client.get("/").content.decode()
        client.post("/accounts/logout/")
        assert client.get("/").status_code == 302

    def test_a_wrong_password_is_a_form_error(self, client, alice):
        response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert "correct username and password" in response.content.decode()

    def test_the_page_login_is_throttled_too(self, client, alice, settings):
        settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER = 2
        for _ in range(2):
            client.post("/accounts/login/", {"username": "alice", "password": "nope"})
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert "Too many login attempts" in response.content.decode()
