import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.conftest import PASSWORD


def image_file(fmt="PNG", name="me.png", size=(8, 8)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue())


def avatar_path(user) -> Path:
    return Path(settings.MEDIA_ROOT) / "avatars" / user.avatar


@pytest.mark.django_db
class TestProfile:
    def test_it_shows_the_user(self, alice_client, alice):
        body = alice_client.get("/api/user/profile").json()
        assert body["username"] == "alice"
        assert body["email"] == "alice@example.com"
        assert body["avatar_url"] is None
        assert "password" not in body

    def test_it_changes_username_and_email(self, alice_client, alice):
        response = alice_client.put(
            "/api/user/profile",
            {"username": "alicia", "email": "alicia@example.com"},
            format="json",
        )
        assert response.status_code == 200
        alice.refresh_from_db()
        assert (alice.username, alice.email) == ("alicia", "alicia@example.com")

    def test_it_refuses_another_users_email_or_username(self, alice_client, alice, bob):
        response = alice_client.put(
            "/api/user/profile", {"email": "BOB@example.com"}, format="json"
        )
        assert response.status_code == 400
        assert "already exists" in response.json()["email"][0]
        response = alice_client.put("/api/user/profile", {"username": "bob"}, format="json")
        assert response.status_code == 400

    def test_a_new_password_needs_the_current_one(self, alice_client, alice, anon_client):
        response = alice_client.put(
            "/api/user/profile", {"new_password": "another-long-pass-7"}, format="json"
        )
        assert response.status_code == 400
        assert "current_password" in response.json()
        response = alice_client.put(
            "/api/user/profile",
            {"current_password": "wrong", "new_password": "another-long-pass-7"},
            format="json",
        )
        assert response.status_code == 400
        assert "not correct" in response.json()["current_password"][0]
        response = alice_client.put(
            "/api/user/profile",
            {"current_password": PASSWORD, "new_password": "another-long-pass-7"},
            format="json",
        )
        assert response.status_code == 200
        login = anon_client.post(
            "/api/auth/login",
            {"username": "alice", "password": "another-long-pass-7"},
            format="json",
        )
        assert login.status_code == 200

    def test_a_weak_new_password_is_refused_and_nothing_else_changes(self, alice_client, alice):
        response = alice_client.put(
            "/api/user/profile",
            {"username": "alicia", "current_password": PASSWORD, "new_password": "123"},
            format="json",
        )
        assert response.status_code == 400
        assert "new_password" in response.json()
        alice.refresh_from_db()
        assert alice.username == "alice"
        assert alice.check_password(PASSWORD)

    def test_changing_the_password_revokes_refresh_tokens(self, alice_client, alice, anon_client):
        refresh = anon_client.post(
            "/api/auth/login", {"username": "alice", "password": PASSWORD}, format="json"
        ).json()["refresh_token"]
        alice_client.put(
            "/api/user/profile",
            {"current_password": PASSWORD, "new_password": "another-long-pass-7"},
            format="json",
        )
        response = anon_client.post("/api/auth/refresh", {"refresh_token": refresh}, format="json")
        assert response.status_code == 401

    def test_changing_the_password_ends_access_tokens_at_once(self, alice, anon_client):
        from rest_framework.test import APIClient

        login = {"username": "alice", "password": PASSWORD}
        access = anon_client.post("/api/auth/login", login, format="json").json()["access_token"]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        assert client.get("/deployments").status_code == 200
        change = {"current_password": PASSWORD, "new_password": "another-long-pass-7"}
        assert client.put("/api/user/profile", change, format="json").status_code == 200
        refused = client.get("/deployments")
        assert refused.status_code == 401
        assert "password was changed" in refused.json()["detail"]
        login["password"] = "another-long-pass-7"
        fresh = anon_client.post("/api/auth/login", login, format="json").json()["access_token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh}")
        assert client.get("/deployments").status_code == 200

    def test_anonymous_users_are_refused(self, anon_client):
        assert anon_client.get("/api/user/profile").status_code == 401
        assert anon_client.put("/api/user/profile", {}, format="json").status_code == 401


@pytest.mark.django_db
class TestAvatar:
    @pytest.mark.parametrize(
        ("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp")]
    )
    def test_it_stores_a_real_image_and_serves_it(self, alice_client, alice, client, fmt, ext):
        response = alice_client.put(
            "/api/user/profile", {"avatar": image_file(fmt, name="x.bin")}, format="multipart"
        )
        assert response.status_code == 200, response.content
        alice.refresh_from_db()
        assert re.fullmatch(rf"{alice.id}_[0-9a-f]{{16}}\.{ext}", alice.avatar)
        url = response.json()["avatar_url"]
        assert url == f"/avatars/{alice.avatar}"
        served = client.get(url)
        assert served.status_code == 200
        assert b"".join(served.streaming_content) == avatar_path(alice).read_bytes()

    def test_replacing_and_removing_delete_the_old_file(self, alice_client, alice):
        alice_client.put("/api/user/profile", {"avatar": image_file()}, format="multipart")
        alice.refresh_from_db()
        first = avatar_path(alice)
        alice_client.put(
            "/api/user/profile", {"avatar": image_file("JPEG", "a.jpg")}, format="multipart"
        )
        alice.refresh_from_db()
        second = avatar_path(alice)
        assert not first.exists() and second.exists()
        response = alice_client.put("/api/user/profile", {"remove_avatar": True}, format="json")
        assert response.json()["avatar_url"] is None
        assert not second.exists()

    def test_a_file_that_is_not_an_image_is_refused(self, alice_client, alice):
        fake = SimpleUploadedFile("evil.png", b"<?php system($_GET['c']); ?>")
        response = alice_client.put("/api/user/profile", {"avatar": fake}, format="multipart")
        assert response.status_code == 400
        assert "not a readable image" in response.json()["avatar"][0]
        alice.refresh_from_db()
        assert alice.avatar == ""

    def test_an_image_in_another_format_is_refused(self, alice_client):
        response = alice_client.put(
            "/api/user/profile", {"avatar": image_file("BMP", "a.bmp")}, format="multipart"
        )
        assert response.status_code == 400
        assert "BMP images are not accepted" in response.json()["avatar"][0]

    def test_an_image_over_two_megabytes_is_refused(self, alice_client):
        big = SimpleUploadedFile("big.png", b"\x89PNG" + b"0" * (2 * 1024 * 1024 + 1))
        response = alice_client.put("/api/user/profile", {"avatar": big}, format="multipart")
        assert response.status_code == 400
        assert "2 MB" in response.json()["avatar"][0]

    def test_a_truncated_image_is_refused(self, alice_client):
        data = image_file().read()[:40]
        response = alice_client.put(
            "/api/user/profile", {"avatar": SimpleUploadedFile("t.png", data)}, format="multipart"
        )
        assert response.status_code == 400

    def test_only_avatar_files_are_served(self, client):
        assert client.get("/avatars/../../butler_site/settings.py").status_code == 404
        assert client.get("/avatars/nothing.png").status_code == 404
