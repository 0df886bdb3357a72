"""A stand-in for AWS STS's AssumeRoleWithWebIdentity (query protocol in, XML out), so that the
worker's web-identity credentials (IRSA on EKS) are proven offline: the SDK's own STS client
reaches it through ``AWS_ENDPOINT_URL_STS``, exactly as it would reach STS."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class StsEmulator:
    def __init__(self, *, lifetime: timedelta = timedelta(hours=1)) -> None:
        #: The parameters of every AssumeRoleWithWebIdentity call, in order.
        self.calls: list[dict[str, str]] = []
        #: (access key id, session token) of every set of credentials handed out.
        self.issued: list[tuple[str, str]] = []
        self.lifetime = lifetime
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                params = {key: values[0] for key, values in parse_qs(body).items()}
                status, answer = emulator._answer(params)
                payload = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _answer(self, params: dict[str, str]) -> tuple[int, str]:
        if params.get("Action") != "AssumeRoleWithWebIdentity":
            return 400, _error("InvalidAction", f"not emulated: {params.get('Action')}")
        self.calls.append({k: params.get(k, "") for k in ("RoleArn", "RoleSessionName", "WebIdentityToken")})
        if not params.get("WebIdentityToken") or params.get("WebIdentityToken") == "expired":
            return 400, _error("InvalidIdentityToken", "The web identity token is not valid.")
        number = len(self.issued) + 1
        key, token = f"ASIASTSEMULATOR{number:05d}", f"sts-session-token-{number}"
        self.issued.append((key, token))
        expires = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        account = params["RoleArn"].split(":")[4]
        return 200, (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{_NS}"><AssumeRoleWithWebIdentityResult>'
            f"<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>secret-{number}</SecretAccessKey>"
            f"<SessionToken>{token}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
            f"<AssumedRoleUser><Arn>arn:aws:sts::{account}:assumed-role/voice-nova/"
            f"{params.get('RoleSessionName', '')}</Arn><AssumedRoleId>AROAEMULATOR:x</AssumedRoleId>"
            "</AssumedRoleUser><SubjectFromWebIdentityToken>system:serviceaccount:voice:nova"
            "</SubjectFromWebIdentityToken></AssumeRoleWithWebIdentityResult>"
            "<ResponseMetadata><RequestId>emulated</RequestId></ResponseMetadata>"
            "</AssumeRoleWithWebIdentityResponse>"
        )

    def __enter__(self) -> StsEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _error(code: str, message: str) -> str:
    return (
        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>emulated</RequestId></ErrorResponse>"
    )
