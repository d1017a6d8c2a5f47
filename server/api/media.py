"""`/media/{key}`: local media files, no bearer token (the URL itself is the credential).

Keys hold 144 random bits; with a TTL the URL must also carry a valid, unexpired signature.
FileResponse answers Range requests, so browsers can seek in the videos.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from server.api.context import context
from server.api.errors import ApiError, not_found
from server.errors import InvalidInputError
from server.store.media import LocalMedia

MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
}


async def get_media(request: Request) -> Response:
    media = context(request).media
    key = request.path_params["key"]
    if not isinstance(media, LocalMedia):
        raise not_found(
            "media_not_found", "media are served by the storage bucket, not this server"
        )
    try:
        path = media.path(key)
    except InvalidInputError:
        raise not_found("media_not_found", "no such media") from None
    problem = media.signer.check(
        key, request.query_params.get("expires"), request.query_params.get("sig")
    )
    if problem:
        raise ApiError(403, "invalid_media_url", f"media URL rejected: {problem}")
    if not path.is_file():
        raise not_found("media_not_found", "no such media")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        headers={"Cache-Control": "private, max-age=3600"},
        content_disposition_type="inline",
    )
