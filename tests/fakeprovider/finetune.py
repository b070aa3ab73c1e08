"""OpenAI files + fine-tuning jobs. A job moves one step per status poll:
validating_files → queued → running → succeeded (with ``fine_tuned_model``)."""

from __future__ import annotations

import email.parser
import email.policy
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .state import FakeState
from .wire import error_body, json_response

STEPS = ("validating_files", "queued", "running", "succeeded")


def parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name → (filename, bytes). The stdlib MIME parser: no python-multipart needed."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    out: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str):
            out[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    return out


async def upload_file(request: Request, state: FakeState, headers: dict[str, str]) -> Response:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return json_response(error_body("openai", 400, "expected multipart/form-data", "invalid_request_error"),
                             400, headers)
    form = parse_multipart(ctype, await request.body())
    if "file" not in form or "purpose" not in form:
        return json_response(error_body("openai", 400, "'file' and 'purpose' are required",
                                        "invalid_request_error"), 400, headers)
    filename, data = form["file"]
    fid = state.next_id("file-")
    obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
           "filename": filename or "upload", "purpose": form["purpose"][1].decode(), "status": "processed"}
    state.files[fid] = {**obj, "content": data}
    return json_response(obj, 200, headers)


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def create_job(body: dict[str, Any], state: FakeState, headers: dict[str, str]) -> Response:
    if body.get("training_file") not in state.files:
        return json_response(error_body("openai", 400, f"invalid training_file: {body.get('training_file')}",
                                        "invalid_request_error", "invalid_training_file"), 400, headers)
    jid = state.next_id("ftjob-")
    job = {"id": jid, "object": "fine_tuning.job", "model": body.get("model"), "created_at": int(time.time()),
           "finished_at": None, "fine_tuned_model": None, "organization_id": "org-fake", "result_files": [],
           "status": STEPS[0], "validation_file": body.get("validation_file"),
           "training_file": body["training_file"], "hyperparameters": body.get("hyperparameters") or
           {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
           "trained_tokens": None, "suffix": body.get("suffix"), "_step": 0}
    state.jobs[jid] = job
    return json_response(_public(job), 200, headers)


def get_job(jid: str, state: FakeState, headers: dict[str, str]) -> Response:
    job = state.jobs.get(jid)
    if job is None:
        return json_response(error_body("openai", 404, f"No fine-tuning job found with id {jid}",
                                        "invalid_request_error"), 404, headers)
    if job["status"] in STEPS[:-1]:
        job["_step"] += 1
        job["status"] = STEPS[job["_step"]]
        if job["status"] == "succeeded":
            suffix = job.get("suffix") or "fake"
            job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{jid[-6:]}"
            job["finished_at"] = int(time.time())
            job["trained_tokens"] = 1000
    return json_response(_public(job), 200, headers)


def cancel_job(jid: str, state: FakeState, headers: dict[str, str]) -> Response:
    job = state.jobs.get(jid)
    if job is None:
        return json_response(error_body("openai", 404, f"No fine-tuning job found with id {jid}",
                                        "invalid_request_error"), 404, headers)
    if job["status"] != "succeeded":
        job["status"] = "cancelled"
    return json_response(_public(job), 200, headers)


def list_jobs(state: FakeState, headers: dict[str, str]) -> Response:
    return json_response({"object": "list", "data": [_public(j) for j in state.jobs.values()], "has_more": False},
                         200, headers)


def job_events(jid: str, state: FakeState, headers: dict[str, str]) -> Response:
    job = state.jobs.get(jid)
    if job is None:
        return json_response(error_body("openai", 404, f"No fine-tuning job found with id {jid}",
                                        "invalid_request_error"), 404, headers)
    data = [{"object": "fine_tuning.job.event", "id": f"ftevent-{i}", "created_at": job["created_at"],
             "level": "info", "message": f"status: {s}", "type": "message"}
            for i, s in enumerate(STEPS[: job["_step"] + 1])]
    return json_response({"object": "list", "data": data[::-1], "has_more": False}, 200, headers)
