"""No pages here (see projects/views.py); kept so `include("projects.urls")` resolves."""

app_name = "projects"

urlpatterns: list = []
