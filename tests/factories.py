import factory

from accounts.models import User
from projects.models import Project


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    owner = factory.SubFactory(UserFactory)
    app_name = factory.Sequence(lambda n: f"app-{n}")
    git_url = factory.LazyAttribute(lambda p: f"https://github.com/example/{p.app_name}.git")
    status = Project.Status.IMPORTED


def _encrypt(value: str) -> str:
    from core.crypto import encrypt

    return encrypt(value)


class EnvironmentVariableFactory(factory.django.DjangoModelFactory):
    """A stored variable; pass `value=` (plain) and it is encrypted like the services do."""

    class Meta:
        model = "envvars.EnvironmentVariable"
        exclude = ("value",)

    project = factory.SubFactory(ProjectFactory)
    key = factory.Sequence(lambda n: f"VAR_{n}")
    value = "a-value"
    value_encrypted = factory.LazyAttribute(lambda o: _encrypt(o.value))
