"""`--push_to_hub` against a local stand-in of the Hub's HTTP API: a real tiny training run pushes its folder
with huggingface_hub (create_repo + upload_folder), as it would to huggingface.co.

The stand-in answers exactly the calls huggingface_hub makes for these two functions: `POST /api/repos/create`,
`POST /api/validate-yaml` (the single-commit path, used when hf_xet is not installed), `POST
/api/models/<repo>/preupload/<revision>` (every file "regular": sent inline in the commit, so no LFS or xet
storage is involved) and `POST /api/models/<repo>/commit/<revision>` (ndjson, files base64-encoded). Anything
else is recorded and answered 404, so an unexpected call fails the test."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from test_training import ROOT, train_argv

TOKEN = "hf_PLANTEDtokenXq7vR2mK9sLw4ZbN8cT3"
REPO_ID = "someone/tiny"


class HubStandIn(ThreadingHTTPServer):
    """Records every request; keeps the files of every commit."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _HubHandler)
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # method, path, authorization
        self.created: list[dict] = []  # create_repo payloads with their Authorization header
        self.commits: list[dict] = []  # repo, revision, authorization, summary, files (path -> bytes)
        self.unexpected: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def committed_files(self) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for commit in self.commits:
            files.update(commit["files"])
        return files


class _HubHandler(BaseHTTPRequestHandler):
    server: HubStandIn

    def log_message(self, format, *args):  # quiet
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        with self.server.lock:
            self.server.unexpected.append(f"{self.command} {self.path}")
        self._reply(404, {"error": f"the Hub stand-in does not answer {self.command} {self.path}"})

    def do_GET(self):
        self._record()
        self._not_found()

    do_HEAD = do_PUT = do_DELETE = do_GET

    def _record(self) -> str:
        authorization = self.headers.get("Authorization", "")
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path, "authorization": authorization})
        return authorization

    def do_POST(self):
        authorization = self._record()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        if path == "/api/repos/create":
            payload = json.loads(body)
            with self.server.lock:
                self.server.created.append({**payload, "authorization": authorization})
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            self._reply(200, {"url": f"{self.server.endpoint}/{repo_id}", "name": repo_id, "id": "0" * 24})
        elif path == "/api/validate-yaml":
            self._reply(200, {"errors": [], "warnings": []})
        elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
            files = json.loads(body)["files"]
            self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                                        for f in files]})
        elif len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
            items = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            files, summary = {}, None
            for item in items:
                if item["key"] == "header":
                    summary = item["value"]["summary"]
                elif item["key"] == "file":
                    assert item["value"]["encoding"] == "base64"
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                else:  # lfsFile, deletedFile, ...: nothing this push should send
                    with self.server.lock:
                        self.server.unexpected.append(f"commit item {item['key']}")
            repo_id = f"{parts[2]}/{parts[3]}"
            with self.server.lock:
                self.server.commits.append({"repo": repo_id, "revision": parts[5], "authorization": authorization,
                                            "summary": summary, "files": files})
                oid = f"{len(self.server.commits):040x}"
            self._reply(200, {"commitUrl": f"{self.server.endpoint}/{repo_id}/commit/{oid}", "commitOid": oid,
                              "pullRequestUrl": None})
        else:
            self._not_found()


@pytest.fixture
def hub():
    server = HubStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _online_environment(endpoint: str) -> dict[str, str]:
    """The Hub reachable (at the stand-in): the offline switches the test session sets are removed, and no
    token of this machine's user leaks in."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_ENDPOINT=endpoint, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="5")
    return env


def _readable_parts(content: bytes) -> list[bytes]:
    """The bytes of a file and, for a zip (torch.save's training_args.bin), of each member uncompressed."""
    parts = [content]
    if content.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts += [archive.read(member) for member in archive.namelist()]
    return parts


def local_files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_push_to_hub_creates_the_repo_and_commits_the_model_folder_without_checkpoints_or_token(
        small_corpus, tiny_config_json, tmp_path, hub):
    output_dir = tmp_path / "model"
    # What a killed run leaves behind (a half-written checkpoint, a staging file): never pushed.
    (output_dir / "tmp-checkpoint-7").mkdir(parents=True)
    (output_dir / "tmp-checkpoint-7" / "model.safetensors").write_bytes(b"half-written")
    (output_dir / "tmp-notes.txt").write_text("staging", encoding="utf-8")
    argv = train_argv(small_corpus, tiny_config_json, output_dir, "--max_steps", "1", "--save_steps", "1",
                      "--overwrite_output_dir", "--push_to_hub", "--hub_model_id", REPO_ID, "--hub_token", TOKEN)
    result = subprocess.run([sys.executable, str(ROOT / "run_speech_recognition_ctc.py"), *argv], capture_output=True,
                            text=True, env=_online_environment(hub.endpoint), cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"pushed {output_dir} to https://huggingface.co/{REPO_ID}" in result.stdout
    assert TOKEN not in result.stdout + result.stderr  # never printed

    assert hub.unexpected == []
    # The repository was created once, for the given id, with the given token.
    assert hub.created == [{"name": "tiny", "organization": "someone", "visibility": "public",
                            "authorization": f"Bearer {TOKEN}"}]
    assert hub.commits and all(c["repo"] == REPO_ID and c["revision"] == "main" for c in hub.commits)
    assert all(c["authorization"] == f"Bearer {TOKEN}" for c in hub.commits)
    assert hub.commits[0]["summary"] == "robust-speech: training finished"

    committed = hub.committed_files()
    # The model folder as training wrote it, minus checkpoints and staging files.
    assert (output_dir / "checkpoint-1").is_dir() and (output_dir / "tmp-checkpoint-7").is_dir()
    expected = {name for name in local_files(output_dir)
                if not name.startswith(("checkpoint-", "tmp-"))}
    assert set(committed) == expected
    for name in ("model.safetensors", "config.json", "vocab.json", "tokenizer_config.json", "processor_config.json",
                 "text_normalizer.json", "README.md", "run.sh", "run_speech_recognition_ctc.py", "eval.py",
                 "training_args.bin", "trainer_state.json", "app.py", "requirements.txt"):
        assert name in committed, name
    assert not any(name.startswith(("checkpoint-", "tmp-")) for name in committed)
    # Byte for byte what is on disk.
    for name, content in committed.items():
        assert content == (output_dir / name).read_bytes(), name
    # The planted token is in none of the uploaded files (model card, run.sh, training_args.bin, TensorBoard...).
    for name, content in committed.items():
        for part in _readable_parts(content):
            assert TOKEN.encode() not in part, name
    assert any(name.startswith("runs/") and ".tfevents." in name for name in committed)  # TensorBoard logs too
    assert f'AutoModelForCTC.from_pretrained("{REPO_ID}")' in committed["README.md"].decode()  # the card names the repo
