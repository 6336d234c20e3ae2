"""Private storage: the local folder and an S3 bucket (moto's server) behave alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from dashboard_app.integrations.storage import MissingFile, Storage, StorageError
from tests.support.s3 import S3Server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "local":
        return Storage.local(tmp_path / "private")
    server = request.getfixturevalue("s3_server")
    return Storage.s3(server.create_bucket(f"bucket-{uuid.uuid4().hex[:12]}"))


def test_a_file_is_written_read_overwritten_and_deleted(storage: Storage) -> None:
    key = "generations/1/variants/2/r0/video.mp4"
    assert not storage.exists(key)
    storage.put(key, b"first", content_type="video/mp4")
    storage.put(key, b"second", content_type="video/mp4")
    assert storage.get(key) == b"second"
    storage.delete(key)
    assert not storage.exists(key)
    with pytest.raises(MissingFile):
        storage.get(key)
    storage.delete(key)  # deleting twice is harmless


@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "a//b", "Upper/case", ""])
def test_keys_the_app_does_not_make_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(StorageError):
        storage.put(key, b"x", content_type="text/plain")


def test_local_files_live_under_the_private_folder_and_cannot_be_signed(tmp_path) -> None:
    storage = Storage.local(tmp_path / "private")
    storage.put("a/b.webp", b"img", content_type="image/webp")
    path = storage.local_path("a/b.webp")
    assert path == (tmp_path / "private" / "a" / "b.webp").resolve()
    assert path.read_bytes() == b"img"
    with pytest.raises(StorageError):
        storage.presigned_url("a/b.webp", expires_in=timedelta(minutes=5))


def test_a_bucket_object_is_fetched_through_a_presigned_url_only(s3_server: S3Server) -> None:
    storage = Storage.s3(s3_server.create_bucket(f"bucket-{uuid.uuid4().hex[:12]}"))
    storage.put("generations/9/poster.webp", b"poster-bytes", content_type="image/webp")
    url = storage.presigned_url("generations/9/poster.webp", expires_in=timedelta(minutes=5))
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"poster-bytes"
    assert response.headers["content-type"] == "image/webp"
    # moto does not check signatures; what S3 checks is that the URL carries one and expires.
    assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
    with pytest.raises(StorageError):
        storage.local_path("generations/9/poster.webp")
