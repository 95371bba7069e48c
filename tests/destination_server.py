"""A local stand-in for HubSpot and Salesforce on 127.0.0.1, speaking their documented shapes.

* HubSpot CRM v3: ``POST /crm/v3/objects/{type}/batch/upsert`` (and ``batch/update``, records named by
  their id) answers 200 ``{"status": "COMPLETE",
  "results": [...]}`` (each result's ``properties`` echo what was sent, the idProperty included), or 207
  with ``errors`` for the inputs whose id is in :attr:`DestinationServer.fail_keys`;
  ``POST /crm/v3/objects/{type}/batch/archive`` answers 204.
* Salesforce Bulk API 2.0 ingest: ``POST /services/data/vXX.X/jobs/ingest`` (create, state Open),
  ``PUT .../jobs/ingest/{id}/batches`` (CSV, 201), ``PATCH .../jobs/ingest/{id}`` (UploadComplete),
  ``GET .../jobs/ingest/{id}`` (JobComplete with record counts), ``GET .../successfulResults`` and
  ``.../failedResults`` (CSV with ``sf__Id``/``sf__Created`` or ``sf__Id``/``sf__Error`` before the fields).
  Served over TLS (simple-salesforce only speaks https) with a self-signed certificate for 127.0.0.1.

:attr:`DestinationServer.script` queues faults answered before the next matching request: ``(path
substring, status, headers)``; a status of 0 drops the connection. Every request is recorded
(method, path, parsed body) in :attr:`DestinationServer.requests` for the tests to assert on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

INGEST = re.compile(r"^/services/data/v[\d.]+/jobs/ingest(?:/(?P<job>[^/]+))?(?:/(?P<tail>batches|successfulResults|"
                    r"failedResults|unprocessedrecords))?$")
UPSERT = re.compile(r"^/crm/v3/objects/(?P<type>[^/]+)/batch/(?P<op>upsert|update|archive)$")


class DestinationServer:
    """A threaded HTTP(S) server on 127.0.0.1 with its recorded requests."""

    def __init__(self, tls_dir: Path | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[str, int, dict[str, str]]] = []
        self.fail_keys: set[str] = set()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.handle(self, raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls_dir is not None:
            cert, key = self_signed(tls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme, self.ca = "https", cert
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def calls(self, fragment: str, method: str | None = None) -> list[dict[str, Any]]:
        """The recorded requests whose path contains ``fragment``."""
        return [r for r in self.requests if fragment in r["path"] and (method is None or r["method"] == method)]

    # --- answering -------------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        path = h.path.split("?", 1)[0]
        ctype = h.headers.get("Content-Type") or ""
        body: Any = raw.decode() if raw else None
        if raw and "json" in ctype:
            body = json.loads(raw)
        with self.lock:
            self.requests.append({"method": h.command, "path": path, "body": body,
                                  "auth": h.headers.get("Authorization")})
            fault = next((f for f in self.script if f[0] in path), None)
            if fault is not None:
                self.script.remove(fault)
        if fault is not None:
            if fault[1] == 0:  # drop the connection without an answer
                h.close_connection = True
                h.connection.shutdown(2)
                return
            return self.reply(h, fault[1], {"status": "error", "message": "scripted", "category": "RATE_LIMITS"},
                              fault[2])
        match = UPSERT.match(path)
        if match:
            return self.hubspot(h, match["op"], body)
        match = INGEST.match(path)
        if match:
            return self.ingest(h, match["job"], match["tail"], body)
        self.reply(h, 404, {"message": "not found"})

    def reply(self, h: BaseHTTPRequestHandler, status: int, body: Any = None, headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def hubspot(self, h: BaseHTTPRequestHandler, op: str, body: dict[str, Any]) -> None:
        if op == "archive":
            return self.reply(h, 204)
        results, errors = [], []
        for i, item in enumerate(body["inputs"]):
            if item["id"] in self.fail_keys:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were "
                               "not valid", "context": {"ids": [item["id"]]}})
                continue
            # update names records by their id; upsert by a unique property, whose value HubSpot echoes
            echo = {item["idProperty"]: item["id"]} if op == "upsert" else {}
            results.append({"id": item["id"] if op == "update" else str(1000 + i),
                            "properties": {**item["properties"], **echo},
                            "createdAt": "2024-01-02T06:00:00Z", "updatedAt": "2024-01-02T06:00:00Z",
                            "archived": False, "new": True})
        answer = {"status": "COMPLETE", "results": results, "startedAt": "2024-01-02T06:00:00Z",
                  "completedAt": "2024-01-02T06:00:01Z"}
        if errors:
            answer |= {"numErrors": len(errors), "errors": errors}
        self.reply(h, 207 if errors else 200, answer)

    def ingest(self, h: BaseHTTPRequestHandler, job: str | None, tail: str | None, body: Any) -> None:
        if job is None:  # create
            job_id = f"750{len(self.jobs) + 1:015d}"
            self.jobs[job_id] = {"id": job_id, "state": "Open", "object": body["object"],
                                 "operation": body["operation"], "externalIdFieldName": body.get("externalIdFieldName"),
                                 "rows": []}
            return self.reply(h, 200, _info(self.jobs[job_id]))
        info = self.jobs[job]
        if tail == "batches":
            info["rows"] = list(csv.DictReader(io.StringIO(body)))
            return self.reply(h, 201)
        if tail is None and h.command == "PATCH":
            info["state"] = "JobComplete" if body["state"] == "UploadComplete" else body["state"]
            return self.reply(h, 200, _info(info))
        if tail is None:
            return self.reply(h, 200, _info(info, self.fail_keys))
        key = info["externalIdFieldName"]
        fields = list(info["rows"][0]) if info["rows"] else [key]
        out = io.StringIO()
        failed = tail == "failedResults"
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["sf__Id", "sf__Error" if failed else "sf__Created", *fields])
        for n, row in enumerate(info["rows"]):
            if (row[key] in self.fail_keys) == failed and tail != "unprocessedrecords":
                writer.writerow(["" if failed else f"001{n:015d}", "INVALID_FIELD:bad value" if failed else "true",
                                 *(row[f] for f in fields)])
        self.reply(h, 200, out.getvalue(), content_type="text/csv")


def _info(job: dict[str, Any], fail_keys: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    key = job["externalIdFieldName"]
    failed = sum(1 for r in job["rows"] if r.get(key) in fail_keys)
    return {"id": job["id"], "operation": job["operation"], "object": job["object"], "state": job["state"],
            "externalIdFieldName": key, "contentType": "CSV", "apiVersion": 59.0, "lineEnding": "LF",
            "columnDelimiter": "COMMA", "numberRecordsProcessed": len(job["rows"]), "numberRecordsFailed": failed}


def self_signed(folder: Path) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1 (PEM files in ``folder``); the certificate is its own CA."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
