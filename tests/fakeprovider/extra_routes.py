"""Extra fake routes for the online-client tests: DashScope (Qwen) native fine-tuning and
deployments, and SenseNova fine-tuning (datasets, fine-tunes, servings).

Mount them on a fake app with :func:`add_extra_routes` (``build_app`` has no extension hook, so
the online tests wrap it). Jobs and deployments move one step per status poll, like the
OpenAI jobs in ``finetune.py``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .finetune import parse_multipart
from .state import FakeState, key_tag
from .wire import check_auth, common_headers, credential, error_body, json_response

DS_JOB_STEPS = ("PENDING", "QUEUING", "RUNNING", "SUCCEEDED")
DS_DEPLOY_STEPS = ("PENDING", "DEPLOYING", "RUNNING")
NOVA_JOB_STEPS = ("pending", "running", "SUCCEEDED")
NOVA_SERVING_STEPS = ("PENDING", "RUNNING")


Handler = Callable[[Request, Any, dict[str, str]], Awaitable[Response]]


def _endpoint(st: FakeState, flavor: str, fn: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def ep(request: Request) -> Response:
        headers = common_headers(request, st)
        body: Any = {}
        if request.method == "POST" and not request.headers.get("content-type", "").startswith("multipart/"):
            raw = await request.body()
            body = orjson.loads(raw) if raw else {}
        st.requests.append({"path": request.url.path, "method": request.method, "body": body,
                            "headers": {k: v for k, v in request.headers.items()
                                        if k not in ("authorization", "x-api-key")},
                            "key": key_tag(credential(request))})
        denied = check_auth(request, flavor, st, headers)
        if denied is not None:
            return denied
        return await fn(request, body, headers)
    return ep


def _step(obj: dict[str, Any], steps: tuple[str, ...]) -> None:
    i = steps.index(obj["status"]) if obj["status"] in steps else len(steps) - 1
    obj["status"] = steps[min(i + 1, len(steps) - 1)]


def add_extra_routes(app: Starlette) -> Starlette:
    st: FakeState = app.state.fake

    async def ds_upload(request: Request, body: Any, h: dict[str, str]) -> Response:
        form = parse_multipart(request.headers.get("content-type", ""), await request.body())
        if "files" not in form:
            return json_response(error_body("dashscope", 400, "files is required", "InvalidParameter"), 400, h)
        fid = st.next_id("file-ds-")
        st.files[fid] = {"id": fid, "filename": form["files"][0], "content": form["files"][1]}
        return json_response({"request_id": h["x-request-id"],
                              "data": {"uploaded_files": [{"file_id": fid, "name": form["files"][0]}],
                                       "failed_uploads": []}}, 200, h)

    async def ds_create_job(request: Request, body: Any, h: dict[str, str]) -> Response:
        ids = body.get("training_file_ids") or []
        if not ids or any(i not in st.files for i in ids):
            return json_response(error_body("dashscope", 400, "training_file_ids not found", "InvalidParameter"),
                                 400, h)
        jid = st.next_id("ft-ds-")
        # every field of dashscope 2.0.2 finetune/customize_types.py FineTuneOutput
        st.jobs[jid] = {"job_id": jid, "job_name": jid, "status": DS_JOB_STEPS[0], "model": body.get("model"),
                        "base_model": body.get("model"), "finetuned_output": None, "training_file_ids": ids,
                        "validation_file_ids": body.get("validation_file_ids") or [],
                        "training_type": body.get("training_type"), "hyper_parameters": body.get("hyper_parameters"),
                        "create_time": time.strftime("%Y-%m-%d %H:%M:%S"), "user_identity": "fake",
                        "modifier": "fake", "creator": "fake", "group": "llm", "end_time": None, "usage": None}
        return json_response({"request_id": h["x-request-id"], "output": dict(st.jobs[jid])}, 200, h)

    async def ds_get_job(request: Request, body: Any, h: dict[str, str]) -> Response:
        job = st.jobs.get(request.path_params["job_id"])
        if job is None:
            return json_response(error_body("dashscope", 404, "job not found", "NotFound"), 404, h)
        _step(job, DS_JOB_STEPS)
        if job["status"] == "SUCCEEDED":
            job["finetuned_output"] = f"{job['model']}-ft-{job['job_id'][-6:]}"
        return json_response({"request_id": h["x-request-id"], "output": dict(job)}, 200, h)

    async def ds_deploy(request: Request, body: Any, h: dict[str, str]) -> Response:
        name = f"{body.get('model_name')}-dep"
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        # every field of dashscope 2.0.2 finetune/customize_types.py DeploymentOutput
        st.jobs[name] = {"deployed_model": name, "gmt_create": now, "gmt_modified": now, "status": DS_DEPLOY_STEPS[0],
                         "model_name": body.get("model_name"), "base_model": body.get("model_name"),
                         "base_capacity": body.get("capacity"), "capacity": body.get("capacity"), "ready_capacity": 0,
                         "workspace_id": "fake", "charge_type": "post_paid", "modifier": "fake", "creator": "fake"}
        return json_response({"request_id": h["x-request-id"], "output": dict(st.jobs[name])}, 200, h)

    async def ds_get_deploy(request: Request, body: Any, h: dict[str, str]) -> Response:
        dep = st.jobs.get(request.path_params["dep_id"])
        if dep is None:
            return json_response(error_body("dashscope", 404, "deployment not found", "NotFound"), 404, h)
        _step(dep, DS_DEPLOY_STEPS)
        return json_response({"request_id": h["x-request-id"], "output": dict(dep)}, 200, h)

    async def nova_upload(request: Request, body: Any, h: dict[str, str]) -> Response:
        form = parse_multipart(request.headers.get("content-type", ""), await request.body())
        if "file" not in form:
            return json_response({"error": {"code": 3, "message": "file is required"}}, 400, h)
        fid = st.next_id("nova-file-")
        st.files[fid] = {"id": fid, "content": form["file"][1], "scheme": form.get("scheme", (None, b""))[1]}
        return json_response({"id": fid, "status": "VALID"}, 200, h)

    async def nova_dataset(request: Request, body: Any, h: dict[str, str]) -> Response:
        # `files` is a list of file id strings (sensenova 1.0.6 tests/test_datasets.py: files=[file_result["id"]])
        files = body.get("files") or []
        if not files or not all(isinstance(f, str) and f in st.files for f in files):
            return json_response({"error": {"code": 3, "message": "files must be a list of uploaded file ids"}},
                                 400, h)
        did = st.next_id("nova-ds-")
        st.jobs[did] = {"id": did, "status": "ready", "files": files}
        return json_response({"dataset": {"id": did, "status": "pending"}}, 200, h)

    async def nova_get_dataset(request: Request, body: Any, h: dict[str, str]) -> Response:
        return json_response({"dataset": st.jobs[request.path_params["ds_id"]]}, 200, h)

    async def nova_create_job(request: Request, body: Any, h: dict[str, str]) -> Response:
        # hyperparameters live under hyperparams.training (sensenova 1.0.6 cli.py FineTune.create)
        hyper = body.get("hyperparams")
        if hyper is not None and (not isinstance(hyper, dict) or set(hyper) - {"training"}):
            return json_response({"error": {"code": 3, "message": "hyperparams takes {'training': {...}}"}}, 400, h)
        if body.get("training_file") not in st.jobs:
            return json_response({"error": {"code": 3, "message": "training_file must be a dataset id"}}, 400, h)
        jid = st.next_id("nova-ft-")
        st.jobs[jid] = {"id": jid, "status": NOVA_JOB_STEPS[0], "model": body.get("model"),
                        "training_file": body.get("training_file"), "fine_tuned_model": None,
                        "hyperparams": body.get("hyperparams"), "created_at": int(time.time())}
        return json_response({"job": dict(st.jobs[jid])}, 200, h)

    async def nova_get_job(request: Request, body: Any, h: dict[str, str]) -> Response:
        job = st.jobs[request.path_params["job_id"]]
        _step(job, NOVA_JOB_STEPS)
        if job["status"] == "SUCCEEDED":
            job["fine_tuned_model"] = f"{job['model']}:{job['id'][-6:]}"
        return json_response({"job": dict(job)}, 200, h)

    async def nova_serving(request: Request, body: Any, h: dict[str, str]) -> Response:
        sid = st.next_id("nova-srv-")
        st.jobs[sid] = {"id": sid, "status": NOVA_SERVING_STEPS[0], "model": body.get("model")}
        return json_response({"job": dict(st.jobs[sid])}, 200, h)

    async def nova_get_serving(request: Request, body: Any, h: dict[str, str]) -> Response:
        srv = st.jobs[request.path_params["srv_id"]]
        _step(srv, NOVA_SERVING_STEPS)
        return json_response({"job": dict(srv)}, 200, h)

    table: list[tuple[str, str, Callable[..., Awaitable[Response]], list[str]]] = [
        ("/api/v1/files", "dashscope", ds_upload, ["POST"]),
        ("/api/v1/fine-tunes", "dashscope", ds_create_job, ["POST"]),
        ("/api/v1/fine-tunes/{job_id}", "dashscope", ds_get_job, ["GET"]),
        ("/api/v1/deployments", "dashscope", ds_deploy, ["POST"]),
        ("/api/v1/deployments/{dep_id}", "dashscope", ds_get_deploy, ["GET"]),
        # SenseNova: <api_base>/llm/... as sensenova 1.0.6 builds them (api_resources/*.py OBJECT_NAME
        # "llm.fine-tunes", "llm.fine-tune.datasets", "llm.fine-tune.servings"); files on their own host
        ("/sensenova/files/v1/files", "sensenova", nova_upload, ["POST"]),
        ("/sensenova/v1/llm/fine-tune/datasets", "sensenova", nova_dataset, ["POST"]),
        ("/sensenova/v1/llm/fine-tune/datasets/{ds_id}", "sensenova", nova_get_dataset, ["GET"]),
        ("/sensenova/v1/llm/fine-tunes", "sensenova", nova_create_job, ["POST"]),
        ("/sensenova/v1/llm/fine-tunes/{job_id}", "sensenova", nova_get_job, ["GET"]),
        ("/sensenova/v1/llm/fine-tune/servings", "sensenova", nova_serving, ["POST"]),
        ("/sensenova/v1/llm/fine-tune/servings/{srv_id}", "sensenova", nova_get_serving, ["GET"]),
    ]
    for path, flavor, fn, methods in table:
        app.router.routes.append(Route(path, _endpoint(st, flavor, fn), methods=methods))
    return app
