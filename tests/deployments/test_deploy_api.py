"""POST /deploy and the deployment read endpoints, without running the pipeline."""

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from deployments.models import Deployment, LogLine
from projects.models import Project
from tests.factories import ProjectFactory

URL = "https://github.com/user/flask-app.git"
FE = "https://github.com/user/react-app.git"
BE = "https://github.com/user/flask-api.git"


@pytest.fixture
def queue_only(monkeypatch):
    """Tasks go to the ORM queue (nobody runs them) so tests see what a client sees at once."""
    monkeypatch.setattr(Conf, "SYNC", False)


def deploy(client, **form):
    return client.post("/deploy", form)  # multipart, as the original API's clients send it


@pytest.mark.django_db(transaction=True)
class TestDeploySingle:
    def test_it_answers_202_at_once_and_queues_the_work(self, alice_client, alice, queue_only):
        response = deploy(alice_client, deploy_type="single", git_url=URL)
        assert response.status_code == 202
        body = response.json()
        assert body["trace_id"].startswith("trace-")
        deployment = Deployment.objects.get(id=body["deployment_id"])
        assert deployment.status == "queued" and deployment.number == 1
        assert deployment.project.owner == alice and deployment.project.app_name == "flask-app"
        assert [entry.name() for entry in OrmQ.objects.all()] == [f"deploy-{deployment.id}"]
        detail = alice_client.get(f"/api/deployments/{deployment.id}").json()
        assert detail["status"] == "queued"
        assert detail["project_id"] == deployment.project_id
        assert detail["message"] == "Deployment queued"

    def test_the_command_line_is_told_apart_by_its_user_agent(self, alice_client, queue_only):
        api = deploy(alice_client, deploy_type="single", git_url=URL).json()
        cli = alice_client.post(
            "/deploy",
            {"deploy_type": "single", "git_url": URL},
            HTTP_USER_AGENT="butler-cli/0.1.0",
        ).json()
        assert Deployment.objects.get(id=api["deployment_id"]).trigger == "api"
        assert Deployment.objects.get(id=cli["deployment_id"]).trigger == "cli"

    def test_a_redeploy_reuses_the_project_and_numbers_the_deployment(
        self, alice_client, queue_only
    ):
        first = deploy(alice_client, git_url=URL).json()
        second = deploy(alice_client, project_id=first["project_id"]).json()
        assert second["project_id"] == first["project_id"]
        assert Deployment.objects.get(id=second["deployment_id"]).number == 2
        assert Project.objects.count() == 1

    def test_json_is_accepted_too(self, alice_client, queue_only):
        response = alice_client.post("/deploy", {"git_url": URL}, format="json")
        assert response.status_code == 202

    @pytest.mark.parametrize(
        ("form", "field"),
        [
            ({"git_url": "ext::sh -c id"}, "git_url"),
            ({"git_url": "file:///etc"}, "git_url"),
            ({"git_url": "-uhttps://x/y"}, "git_url"),
            ({}, "git_url"),
            ({"deploy_type": "bogus", "git_url": URL}, "deploy_type"),
            ({"deploy_type": "split", "frontend_url": FE}, "backend_url"),
            (
                {"deploy_type": "split", "frontend_url": FE, "backend_url": "ftp://x/y"},
                "backend_url",
            ),
            ({"frontend_url": FE, "backend_url": BE}, "deploy_type"),
            ({"git_url": URL, "component_type": "frontend"}, "project_id"),
            ({"git_url": URL, "project_id": "abc"}, "project_id"),
        ],
    )
    def test_bad_input_is_a_400_naming_the_field_before_anything_runs(
        self, alice_client, queue_only, form, field
    ):
        response = deploy(alice_client, **form)
        assert response.status_code == 400, response.content
        assert field in response.json()
        assert not Deployment.objects.exists()
        assert not OrmQ.objects.exists()

    def test_a_multi_repo_project_cannot_be_redeployed_as_single(self, alice_client, queue_only):
        parent = alice_client.post(
            "/api/import-split", {"frontend_url": FE, "backend_url": BE}, format="json"
        ).json()["project_id"]
        response = deploy(alice_client, project_id=parent)
        assert response.status_code == 400
        assert "deploy_type" in response.json()

    def test_anonymous_is_refused(self, anon_client):
        assert deploy(anon_client, git_url=URL).status_code == 401


@pytest.mark.django_db(transaction=True)
class TestDeploySplit:
    def test_it_queues_the_backend_then_the_frontend_as_children(self, alice_client, queue_only):
        response = deploy(alice_client, deploy_type="split", frontend_url=FE, backend_url=BE)
        assert response.status_code == 202
        body = response.json()
        parent = Project.objects.get(id=body["project_id"])
        assert parent.git_url == f"split::{FE}|{BE}"
        backend = Deployment.objects.get(id=body["deployment_ids"]["backend"])
        frontend = Deployment.objects.get(id=body["deployment_ids"]["frontend"])
        assert backend.project.component_type == "backend" and backend.project.parent == parent
        assert frontend.project.component_type == "frontend" and frontend.after == backend
        assert backend.trace_id == frontend.trace_id == body["trace_id"]
        # Only the backend is handed to a worker; the frontend waits as a row until it ends.
        names = [entry.name() for entry in OrmQ.objects.order_by("id")]
        assert names == [f"deploy-{backend.id}"]
        detail = alice_client.get(f"/api/deployments/{frontend.id}").json()
        assert detail["queue"]["waiting_for"] == f"the backend's deployment #{backend.number}"

    def test_an_imported_pair_deploys_from_its_project_id(self, alice_client, queue_only):
        parent = alice_client.post(
            "/api/import-split", {"frontend_url": FE, "backend_url": BE}, format="json"
        ).json()
        body = deploy(alice_client, deploy_type="split", project_id=parent["project_id"]).json()
        backend = Deployment.objects.get(id=body["deployment_ids"]["backend"])
        assert backend.project_id == parent["backend_id"]

    def test_one_component_redeploys_and_reuses_its_child(self, alice_client, queue_only):
        parent = alice_client.post(
            "/api/import-split", {"frontend_url": FE, "backend_url": BE}, format="json"
        ).json()
        body = deploy(
            alice_client, project_id=parent["project_id"], component_type="frontend"
        ).json()
        assert Deployment.objects.get(id=body["deployment_id"]).project_id == parent["frontend_id"]
        new_url = "https://github.com/user/vue-app.git"
        body = deploy(
            alice_client,
            project_id=parent["project_id"],
            component_type="frontend",
            git_url=new_url,
        ).json()
        assert body["project_id"] == parent["frontend_id"]
        assert Project.objects.get(id=parent["frontend_id"]).git_url == new_url
        assert Project.objects.get(id=parent["project_id"]).git_url == f"split::{new_url}|{BE}"
        assert Project.objects.filter(parent_id=parent["project_id"]).count() == 2


@pytest.mark.django_db
class TestReads:
    @pytest.fixture
    def deployment(self, alice):
        project = ProjectFactory(owner=alice)
        deployment = Deployment.objects.create(
            project=project, number=1, trace_id="trace-x", git_url=project.git_url
        )
        LogLine.objects.bulk_create(
            LogLine(deployment=deployment, seq=n, text=f"line {n}") for n in range(1, 8)
        )
        return deployment

    def test_logs_are_paged(self, alice_client, deployment):
        body = alice_client.get(f"/api/deployments/{deployment.id}/logs?limit=5").json()
        assert [line["text"] for line in body["lines"]] == [f"line {n}" for n in range(1, 6)]
        assert body["has_more"] and body["next_after"] == 5
        body = alice_client.get(f"/api/deployments/{deployment.id}/logs?after=5").json()
        assert [line["seq"] for line in body["lines"]] == [6, 7]
        assert alice_client.get(f"/api/deployments/{deployment.id}/logs?after=x").status_code == 400

    def test_a_projects_deployments_are_listed_newest_first(self, alice_client, deployment):
        Deployment.objects.create(project=deployment.project, number=2, trace_id="t", git_url="x")
        body = alice_client.get(f"/api/projects/{deployment.project_id}/deployments").json()
        assert [d["number"] for d in body] == [2, 1]

    def test_container_actions_need_a_deployed_container(self, alice_client, deployment):
        response = alice_client.post(f"/api/projects/{deployment.project_id}/stop")
        assert response.status_code == 409
        assert "Deploy it first" in response.json()["detail"]

    def test_another_users_deployment_and_project_are_404(self, bob_client, deployment):
        project_id = deployment.project_id
        assert bob_client.get(f"/api/deployments/{deployment.id}").status_code == 404
        assert bob_client.get(f"/api/deployments/{deployment.id}/logs").status_code == 404
        assert bob_client.get(f"/api/projects/{project_id}/deployments").status_code == 404
        for action in ("stop", "start", "restart"):
            assert bob_client.post(f"/api/projects/{project_id}/{action}").status_code == 404
        assert bob_client.post("/deploy", {"project_id": project_id}).status_code == 404
        assert Deployment.objects.count() == 1
