"""Private file storage through obstore: a folder under DATA_DIR/private/ by default, an
S3-compatible bucket when configured. Nothing here is ever served publicly: local files leave
only through an authorised app route, S3 objects only through short-lived presigned URLs."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store

# Keys are made by the app (generations/<id>/...), never by members; refuse anything else.
KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9/_\-.]{0,500}$")


class StorageError(RuntimeError):
    """The store refused or failed an operation; the message says which and where."""


class MissingFile(StorageError):
    pass


@dataclass(frozen=True)
class S3Settings:
    bucket: str
    endpoint: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    allow_http: bool = False


def _check_key(key: str) -> str:
    if not KEY_PATTERN.match(key) or ".." in key or "//" in key:
        raise StorageError(f"refusing the storage key {key!r}")
    return key


class Storage:
    """One interface over both stores; `local_root` is set only for the local folder."""

    def __init__(self, store: LocalStore | S3Store, *, local_root: Path | None = None) -> None:
        self.store = store
        self.local_root = local_root

    @classmethod
    def local(cls, root: Path) -> Storage:
        root.mkdir(parents=True, exist_ok=True)
        return cls(LocalStore(root, mkdir=True), local_root=root.resolve())

    @classmethod
    def s3(cls, config: S3Settings) -> Storage:
        options: dict[str, object] = {"region": config.region}
        if config.endpoint:
            options["endpoint"] = config.endpoint
        if config.access_key_id and config.secret_access_key:
            options["access_key_id"] = config.access_key_id
            options["secret_access_key"] = config.secret_access_key
        store = S3Store(
            config.bucket,
            client_options={"allow_http": config.allow_http, "timeout": "30s"},
            **options,  # type: ignore[arg-type]
        )
        return cls(store)

    @property
    def is_local(self) -> bool:
        return self.local_root is not None

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write (or overwrite) `key`: writing the same result twice leaves one file."""
        # A local folder keeps no attributes: its route derives the type from the asset row.
        attributes = None if self.is_local else {"Content-Type": content_type}
        try:
            obstore.put(self.store, _check_key(key), data, attributes=attributes)
        except Exception as error:  # noqa: BLE001 - obstore raises many kinds; say where
            raise StorageError(f"could not store {key}: {error}") from error

    def get(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self.store, _check_key(key)).bytes())
        except (NotFoundError, FileNotFoundError):
            raise MissingFile(f"{key} is not in storage") from None

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self.store, _check_key(key))
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    def delete(self, key: str) -> None:
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self.store, _check_key(key))

    def local_path(self, key: str) -> Path:
        """The file behind `key` in the local folder (for the app route that serves it)."""
        if self.local_root is None:
            raise StorageError("files in a bucket have no local path")
        path = (self.local_root / _check_key(key)).resolve()
        if not path.is_relative_to(self.local_root):
            raise StorageError(f"refusing the storage key {key!r}")
        if not path.is_file():
            raise MissingFile(f"{key} is not in storage")
        return path

    def presigned_url(self, key: str, *, expires_in: timedelta) -> str:
        """A GET URL for a bucket object that stops working after `expires_in`."""
        if self.is_local:
            raise StorageError("a local folder cannot sign URLs; use the app's file route")
        return obstore.sign(self.store, "GET", _check_key(key), expires_in)  # type: ignore[arg-type]


@lru_cache(maxsize=4)
def _cached(root: str | None, s3: S3Settings | None) -> Storage:
    if s3 is not None:
        return Storage.s3(s3)
    assert root is not None
    return Storage.local(Path(root))


def open_storage(*, local_root: Path, s3: S3Settings | None) -> Storage:
    """The configured store, created once per process and configuration."""
    return _cached(None if s3 else str(local_root), s3)
