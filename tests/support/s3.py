"""moto's S3 server on loopback: a real S3-speaking HTTP server for the bucket code path."""

from __future__ import annotations

import httpx
from moto.server import ThreadedMotoServer

from dashboard_app.integrations.storage import S3Settings
from tests.support.servers import free_port

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def create_bucket(self, name: str) -> S3Settings:
        httpx.put(f"{self.endpoint}/{name}", timeout=10).raise_for_status()
        return S3Settings(
            bucket=name,
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            allow_http=True,
        )
