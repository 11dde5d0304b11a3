"""JSON API for accounts: register, login (JWT), token refresh and logout, profile."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import (
    schema,  # noqa: F401 - registers the OpenAPI description of the auth
    services,
)
from accounts.models import User
from accounts.serializers import (
    LoginSerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenSerializer,
    UserSerializer,
)
from accounts.throttle import login_attempt_begin, login_attempt_succeeded
from accounts.tokens import is_current, tokens_for


def client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _tokens(*, access: str, refresh: str, **extra) -> Response:
    """The login answer: a bearer access token (+ Butler's refresh token)."""
    lifetime = int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())
    return Response(
        {
            "access_token": access,
            "token_type": "bearer",
            **extra,
            "refresh_token": refresh,
            "expires_in": lifetime,
        }
    )


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: dict})
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.user_create(**serializer.validated_data)
        return Response({"message": "User created successfully"}, status=status.HTTP_201_CREATED)


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: TokenSerializer})
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]
        ip = client_ip(request)
        wait = login_attempt_begin(username=username, ip=ip)
        if wait:
            return Response(
                {"detail": f"Too many login attempts. Try again in {wait} seconds."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(wait)},
            )
        user = authenticate(
            request, username=username, password=serializer.validated_data["password"]
        )
        if user is None:
            return Response(
                {"detail": "Incorrect username or password."}, status=status.HTTP_401_UNAUTHORIZED
            )
        login_attempt_succeeded(username=username, ip=ip)
        update_last_login(None, user)
        refresh = tokens_for(user)
        return _tokens(
            access=str(refresh.access_token), refresh=str(refresh), username=user.username
        )


class RefreshApi(APIView):
    """Trade a refresh token for a new access token and a new refresh token (rotation)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshSerializer, responses={200: TokenSerializer})
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            old = RefreshToken(serializer.validated_data["refresh"])
            owner = User.objects.filter(id=old["user_id"], is_active=True).first()
        except (TokenError, KeyError):
            return _invalid_refresh()
        if owner is None or not is_current(old, owner):
            return _invalid_refresh()
        refresh = TokenRefreshSerializer(data=serializer.validated_data)
        try:
            refresh.is_valid(raise_exception=True)
        except (TokenError, InvalidToken):
            return _invalid_refresh()
        return _tokens(
            access=refresh.validated_data["access"], refresh=refresh.validated_data["refresh"]
        )


def _invalid_refresh() -> Response:
    return Response(
        {"detail": "The refresh token is invalid, expired or already used. Log in again."},
        status=status.HTTP_401_UNAUTHORIZED,
    )


class LogoutApi(APIView):
    """Revoke a refresh token (the access token simply expires)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RefreshSerializer, responses={200: dict})
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            RefreshToken(serializer.validated_data["refresh"]).blacklist()
        except TokenError:
            return _invalid_refresh()
        return Response({"message": "Logged out"})


class ProfileApi(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(responses={200: UserSerializer})
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: UserSerializer})
    def put(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=request.user, **serializer.validated_data)
        return Response(UserSerializer(user).data)

    patch = put
