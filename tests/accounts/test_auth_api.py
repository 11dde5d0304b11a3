import threading
from datetime import UTC, datetime

import jwt
import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import PASSWORD


def register(client, **overrides):
    body = {"username": "carol", "email": "carol@example.com", "password": "a-long-passphrase-9"}
    body.update(overrides)
    return client.post("/api/auth/register", body, format="json")


def login(client, username="alice", password=PASSWORD, **extra):
    return client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json", **extra
    )


@pytest.mark.django_db
class TestRegister:
    def test_it_creates_a_user_with_a_hashed_password(self, anon_client):
        response = register(anon_client)
        assert response.status_code == 201
        assert response.json() == {"message": "User created successfully"}
        user = User.objects.get(username="carol")
        assert user.email == "carol@example.com"
        assert user.password != "a-long-passphrase-9"
        assert user.check_password("a-long-passphrase-9")

    def test_it_refuses_a_taken_username(self, anon_client, alice):
        response = register(anon_client, username="alice")
        assert response.status_code == 400
        assert "already exists" in response.json()["username"][0]

    def test_it_refuses_a_taken_email_whatever_its_case(self, anon_client, alice):
        response = register(anon_client, email="ALICE@example.com")
        assert response.status_code == 400
        assert "already exists" in response.json()["email"][0]

    @pytest.mark.parametrize(
        ("password", "reason"),
        [
            ("short", "too short"),
            ("password123", "too common"),
            ("48291736450", "entirely numeric"),
        ],
    )
    def test_it_refuses_a_password_the_validators_reject(self, anon_client, password, reason):
        response = register(anon_client, password=password)
        assert response.status_code == 400
        assert any(reason in message for message in response.json()["password"])
        assert not User.objects.filter(username="carol").exists()

    def test_it_names_missing_and_malformed_fields(self, anon_client):
        response = anon_client.post("/api/auth/register", {"email": "nope"}, format="json")
        assert response.status_code == 400
        body = response.json()
        assert set(body) >= {"username", "email", "password", "detail"}

    def test_the_production_hasher_is_argon2(self):
        from butler_site import settings as production

        assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@pytest.mark.django_db
class TestLogin:
    def test_it_returns_a_bearer_token_that_opens_the_profile(self, anon_client, alice):
        response = login(anon_client)
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["username"] == "alice"
        assert body["refresh_token"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
        assert client.get("/api/user/profile").json()["username"] == "alice"

    def test_the_access_token_lives_thirty_minutes(self, anon_client, alice):
        token = login(anon_client).json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 30 * 60
        assert claims["exp"] > datetime.now(UTC).timestamp()

    def test_wrong_credentials_are_a_401(self, anon_client, alice):
        assert login(anon_client, password="wrong-password").status_code == 401
        assert login(anon_client, username="nobody").status_code == 401

    def test_a_form_encoded_body_is_told_to_send_json(self, anon_client, alice):
        response = anon_client.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}
        )  # multipart, as a browser form would send
        assert response.status_code == 415
        assert "application/json" in response.json()["detail"]
        response = anon_client.post(
            "/api/auth/login",
            "username=alice&password=x",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 415
        assert "application/json" in response.json()["detail"]

    def test_invalid_json_is_a_400(self, anon_client):
        response = anon_client.post("/api/auth/login", "{nope", content_type="application/json")
        assert response.status_code == 400
        assert "JSON" in response.json()["detail"]

    def test_an_expired_or_forged_token_is_refused(self, anon_client, alice):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        assert client.get("/api/user/profile").status_code == 401
        assert anon_client.get("/api/user/profile").status_code == 401


@pytest.mark.django_db
class TestRefresh:
    def test_it_rotates_and_blacklists_the_used_refresh_token(self, anon_client, alice):
        first = login(anon_client).json()["refresh_token"]
        response = anon_client.post("/api/auth/refresh", {"refresh_token": first}, format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["access_token"] and body["refresh_token"] != first
        reused = anon_client.post("/api/auth/refresh", {"refresh_token": first}, format="json")
        assert reused.status_code == 401
        again = anon_client.post(
            "/api/auth/refresh", {"refresh": body["refresh_token"]}, format="json"
        )
        assert again.status_code == 200

    def test_garbage_and_missing_tokens_are_refused(self, anon_client):
        assert (
            anon_client.post("/api/auth/refresh", {"refresh_token": "x"}, format="json").status_code
            == 401
        )
        response = anon_client.post("/api/auth/refresh", {}, format="json")
        assert response.status_code == 400
        assert "refresh_token" in response.json()

    def test_logout_revokes_the_refresh_token(self, anon_client, alice):
        refresh = login(anon_client).json()["refresh_token"]
        assert (
            anon_client.post(
                "/api/auth/logout", {"refresh_token": refresh}, format="json"
            ).status_code
            == 200
        )
        assert (
            anon_client.post(
                "/api/auth/refresh", {"refresh_token": refresh}, format="json"
            ).status_code
            == 401
        )


@pytest.mark.django_db
class TestBruteForce:
    def test_a_username_is_locked_after_repeated_failures_even_for_the_right_password(
        self, anon_client, alice, settings
    ):
        settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER = 3
        for _ in range(3):
            assert login(anon_client, password="wrong").status_code == 401
        locked = login(anon_client)
        assert locked.status_code == 429
        assert "Try again in" in locked.json()["detail"]
        assert int(locked["Retry-After"]) > 0

    def test_the_lock_lifts_after_the_lockout(self, anon_client, alice, settings):
        settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER = 2
        settings.BUTLER_LOGIN_LOCKOUT_SECONDS = 1
        for _ in range(3):
            login(anon_client, password="wrong")
        assert login(anon_client).status_code == 429
        import time

        time.sleep(2.1)
        assert login(anon_client).status_code == 200

    def test_one_address_is_locked_across_usernames(self, anon_client, alice, settings):
        settings.BUTLER_LOGIN_MAX_FAILURES_PER_IP = 4
        for n in range(4):
            assert login(anon_client, username=f"guess{n}", password="x").status_code == 401
        assert login(anon_client).status_code == 429
        other_address = login(anon_client, REMOTE_ADDR="10.9.8.7")
        assert other_address.status_code == 200

    def test_a_success_resets_the_username_counter(self, anon_client, alice, settings):
        settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER = 3
        for _ in range(2):
            login(anon_client, password="wrong")
        assert login(anon_client).status_code == 200
        for _ in range(2):
            login(anon_client, password="wrong")
        assert login(anon_client).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_cannot_slip_past_the_limit(settings):
    settings.BUTLER_LOGIN_MAX_FAILURES_PER_USER = 5
    User.objects.create_user(username="dave", email="dave@example.com", password=PASSWORD)
    results: list[int] = []
    barrier = threading.Barrier(12)

    def guess():
        try:
            barrier.wait()
            results.append(login(APIClient(), username="dave", password="wrong").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    assert results.count(401) == 5
    assert results.count(429) == 7


@pytest.mark.django_db
class TestSignupPolicy:
    USER = {"username": "newcomer", "email": "new@example.com", "password": "a-long-passphrase"}

    def test_open_lets_anyone_register(self, anon_client, settings):
        settings.BUTLER_SIGNUP = "open"
        assert anon_client.post("/api/auth/register", self.USER, format="json").status_code == 201

    def test_first_makes_the_first_user_the_admin_and_then_closes(self, anon_client, settings):
        from accounts.models import User

        settings.BUTLER_SIGNUP = "first"
        assert anon_client.post("/api/auth/register", self.USER, format="json").status_code == 201
        first = User.objects.get(username="newcomer")
        assert first.is_superuser and first.is_staff
        second = {**self.USER, "username": "late", "email": "late@example.com"}
        refused = anon_client.post("/api/auth/register", second, format="json")
        assert refused.status_code == 403
        assert "Registration is closed" in refused.json()["detail"]
        assert not User.objects.filter(username="late").exists()

    def test_closed_refuses_the_api_and_the_page(self, anon_client, client, settings):
        settings.BUTLER_SIGNUP = "closed"
        refused = anon_client.post("/api/auth/register", self.USER, format="json")
        assert refused.status_code == 403 and "createsuperuser" in refused.json()["detail"]
        page = client.post("/accounts/register/", self.USER)
        assert page.status_code == 200 and "Registration is closed" in page.content.decode()
