"""The web app over HTTP, exactly as uploaded to the frontend bucket in the emulator.

Every request reads the object from the bucket, so what the page gets is what `up` wrote there,
config.json included, with the Content-Type it was stored with. `/` and any path ending in `/`
serve that directory's index.html.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatdeploy.aws import error_code
from chatdeploy.local.http_server import HttpRequest, HttpResponse

INDEX = "index.html"
_MISSING = {"NoSuchKey", "404", "NotFound"}


def object_key(path: str) -> str:
    key = path.lstrip("/")
    if not key or key.endswith("/"):
        key += INDEX
    return key


class FrontendServer:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self._s3 = s3_client
        self.bucket = bucket

    async def respond(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse.text(405, "the frontend is read-only\n")
        key = object_key(request.path)
        try:
            found = await asyncio.to_thread(self._read, key)
        except Exception as error:
            code = error_code(error)
            if code == "NoSuchBucket":
                return HttpResponse.text(
                    404, f"no frontend deployed: bucket {self.bucket} is missing\n"
                )
            if code in _MISSING:
                return HttpResponse.text(404, f"{key} is not in the frontend bucket\n")
            raise
        body, content_type = found
        headers = (("Content-Type", content_type), ("Cache-Control", "no-cache"))
        return HttpResponse(200, body, headers)

    def _read(self, key: str) -> tuple[bytes, str]:
        answer = self._s3.get_object(Bucket=self.bucket, Key=key)
        body: bytes = answer["Body"].read()
        return body, str(answer.get("ContentType") or "application/octet-stream")
