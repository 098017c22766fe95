"""An API key goes to the server it is for, and nowhere else.

Real ``gallery`` processes run with a distinctive fake key in the environment,
at every verbosity there is (``GALLERY_DEBUG=1`` and the openai SDK's own
``OPENAI_LOG=debug``), against a local server that also fails on purpose with
error bodies that echo the request's headers back (so the key is *in* the error
the client raises). The server must have received the key; yet it must appear
in no file under ``outputs/`` or ``site/`` (every file, read as bytes, in plain,
base64 and URL-quoted form) and in nothing any command printed.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

KEY_ENV = "GALLERY_SECRET_TEST_KEY"
KEY = "sk-gallery-canary-0123456789abcdefghij"
FORMS = {
    "plain": KEY.encode(),
    "base64": base64.b64encode(KEY.encode())[:32],
    "base64 of the header": base64.b64encode(f"Bearer {KEY}".encode())[:40],
    "url-quoted": quote(KEY).encode(),
    "middle of the key": KEY[10:30].encode(),
}
PAGE = '```html\n<!DOCTYPE html><html lang="en"><body><h1>Hi</h1></body></html>\n```'


def leaks(data: bytes) -> list[str]:
    return [name for name, form in FORMS.items() if form in data]


@pytest.fixture
def project(tmp_path: Path, llm_server) -> dict:
    (tmp_path / "gallery.toml").write_text(
        f"""
[defaults]
models = ["local"]
max_retries = 1
timeout = 10

[models.local]
base_url = "{llm_server.base_url}"
model = "m"
api_key_env = "{KEY_ENV}"
"""
    )
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for pid in ("good", "echo-500", "echo-401", "echo-stream"):
        (prompts / f"{pid}.toml").write_text(
            f'id = "{pid}"\ntitle = "{pid}"\nprompt = "Draw [{pid}]."\n'
            "[render]\nscreenshots = [0.5]\npreview_frames = 2\n"
        )
    llm_server.on("[good]", text=PAGE)
    llm_server.on("[echo-500]", status=500, echo_headers=True)
    llm_server.on("[echo-401]", status=401, echo_headers=True)
    # an error event in the middle of the stream that quotes the key
    quoted = json.dumps({"error": {"message": f"invalid credentials: Bearer {KEY}"}})
    llm_server.on("[echo-stream]", sse=[quoted])
    llm_server.default.text = PAGE
    common = ["--config", str(tmp_path / "gallery.toml"), "--prompts", str(prompts),
              "--out", str(tmp_path / "out")]  # fmt: skip
    return {"root": tmp_path, "common": common, "server": llm_server}


def gallery(project: dict, *args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, KEY_ENV: KEY, **env}
    return subprocess.run(
        [sys.executable, "-m", "gallery", *args, *project["common"]],
        env=full_env, cwd=project["root"], capture_output=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_key_is_sent_but_never_written_or_printed(project: dict) -> None:
    root, server = project["root"], project["server"]
    site = str(root / "site")
    printed: dict[str, bytes] = {}

    def keep(name: str, proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
        printed[name] = proc.stdout + b"\n" + proc.stderr
        return proc

    loud = {"GALLERY_DEBUG": "1", "OPENAI_LOG": "debug"}
    run = keep("run (debug)", gallery(project, "run", "--site", site, **loud))
    assert run.returncode == 0, run.stdout.decode() + run.stderr.decode()
    keep("generate --fresh", gallery(project, "generate", "--fresh"))
    keep("generate --fresh (debug)", gallery(project, "generate", "--fresh", **loud))
    keep("results", gallery(project, "results", "--json", **loud))
    keep("models", gallery(project, "models", **loud))
    keep("doctor", gallery(project, "doctor", **loud))
    keep("build", gallery(project, "build", "--site", site, **loud))
    # a command that fails with a traceback (GALLERY_DEBUG shows it)
    bad = keep("unknown model (debug)", gallery(project, "generate", "--model", "nope", **loud))
    assert bad.returncode != 0 and b"Traceback" in bad.stderr

    # the key did go where it belongs ...
    assert server.requests >= 3 * 4
    assert set(server.authorizations) == {f"Bearer {KEY}"}
    # ... the failing calls did carry it back in their error bodies ...
    runs = sorted((root / "out" / "runs").iterdir())
    first = json.loads((runs[0] / "echo-500" / "local" / "1" / "reply.json").read_text())
    assert first["status"] == "failed" and "Bearer ***" in first["error"], first["error"]
    for pid in ("echo-401", "echo-stream"):
        r = json.loads((runs[0] / pid / "local" / "1" / "reply.json").read_text())
        assert r["status"] == "failed" and "***" in r["error"], (pid, r["error"])
    # the SDK's debug log was on (so "any verbosity" really included it)
    assert b"HTTP Request" in printed["run (debug)"] or b"Request options" in printed["run (debug)"]

    # ... and it is nowhere else
    files = [p for d in ("out", "site") for p in (root / d).rglob("*") if p.is_file()]
    assert len(files) > 20
    found = {str(p.relative_to(root)): leaks(p.read_bytes()) for p in files}
    found.update({f"printed by {name}": leaks(out) for name, out in printed.items()})
    assert {k: v for k, v in found.items() if v} == {}
