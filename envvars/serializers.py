"""Request shapes of the env var API. Keys and values are checked by `envvars.validation`
(in the services), so every message names the key; these only check the JSON shape."""

from __future__ import annotations

from rest_framework import serializers

from envvars.validation import value_problem


def _component_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=["frontend", "backend"],
        required=False,
        allow_null=True,
        allow_blank=True,
        error_messages={"invalid_choice": "component must be 'frontend' or 'backend'."},
    )


def _project_id_field(*, required: bool = True) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=required,
        error_messages={
            "required": "project_id is required.",
            "null": "project_id is required.",
            "invalid": "project_id must be an integer.",
            "max_string_length": "project_id must be an integer.",
        },
    )


class ProjectRefSerializer(serializers.Serializer):
    project_id = _project_id_field()
    component = _component_field()


class SaveSerializer(ProjectRefSerializer):
    variables = serializers.JSONField(
        error_messages={"required": "variables is required: an object of NAME: value."}
    )

    def validate_variables(self, variables):
        if not isinstance(variables, dict):
            raise serializers.ValidationError(
                "variables must be an object of NAME: value (strings)."
            )
        for key, value in variables.items():
            if not isinstance(value, str):
                raise serializers.ValidationError(value_problem(key, value) + ".")
        return variables


class SetSerializer(ProjectRefSerializer):
    value = serializers.JSONField(error_messages={"required": "value is required (a string)."})
    is_build_time = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_value(self, value):
        if not isinstance(value, str):
            raise serializers.ValidationError(
                f"value must be a string (got {type(value).__name__})."
            )
        return value


class ImportSerializer(ProjectRefSerializer):
    file = serializers.FileField(required=False, allow_empty_file=True)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    replace = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if "file" not in attrs and "content" not in attrs:
            raise serializers.ValidationError(
                {"file": "Send the .env as a file field `file` or as JSON `content`."}
            )
        return attrs


class DetectSerializer(serializers.Serializer):
    git_url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    frontend_url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    backend_url = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    project_id = _project_id_field(required=False)
    component = _component_field()

    def validate(self, attrs):
        if not any(attrs.get(name) for name in ("git_url", "frontend_url", "backend_url")) and (
            attrs.get("project_id") is None
        ):
            raise serializers.ValidationError(
                "Give git_url, or frontend_url and/or backend_url, or project_id."
            )
        return attrs
