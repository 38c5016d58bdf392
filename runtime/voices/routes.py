"""/v1/audio/voices: the voice library over HTTP, shaped like OpenAI's custom voices and vLLM-Omni's uploaded voices.

POST takes vLLM-Omni's multipart fields (`name`, `audio_sample`, `ref_text`, `consent`, `speaker_description`)
plus `lora`, and answers with OpenAI's voice object (`id` voice_..., `object` audio.voice, `name`, `created_at`)
and vLLM-Omni's `success`. GET lists in OpenAI's list shape, with vLLM-Omni's `voices` (the names) beside it;
DELETE answers OpenAI's deletion shape with vLLM-Omni's `success` and `message`. The runtime keeps the library
itself, whatever the engine: vLLM-Omni's own is a directory per process, which neither survives a pod nor is
shared between replicas, so the runtime sends a voice's reference (or description) with each request instead.
Writes need a key named in auth.admins (or a server without keys, which is one's own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxdeploy.contracts.api import VOICES_PATH
from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.runtime.auth import caller_name
from voxdeploy.runtime.http import ApiError, read_form
from voxdeploy.runtime.voices.library import Consent, VoiceLibrary

TEXT_FIELDS = ("name", "ref_text", "speaker_description", "lora", "consent")
FILE_FIELDS = frozenset({"audio_sample", "consent"})
MAX_CONSENT_ID_CHARS = 256
Endpoint = Callable[[Request], Awaitable[Response]]


def _admin(request: Request, auth: ApiKeys | None) -> None:
    if auth is None:
        return
    name = caller_name(request.scope)
    if name not in auth.admins:
        raise ApiError(
            403,
            f"the key {name!r} may not change the voice library; keys named in auth.admins may",
            None,
            "permission_error",
        )


def voice_routes(library: VoiceLibrary, auth: ApiKeys | None, limit: int) -> list[Route]:
    """The library's routes; each refusal is the OpenAI-style error every other route answers."""

    async def listing(_: Request) -> Response:
        voices = await library.voices()
        return JSONResponse(
            {"object": "list", "data": [v.public() for v in voices], "voices": [v.name for v in voices]}
        )

    async def create(request: Request) -> Response:
        _admin(request, auth)
        texts, files = await read_form(request, limit, FILE_FIELDS)
        unknown = sorted(set(texts) - set(TEXT_FIELDS))
        if unknown:
            fields = ", ".join((*TEXT_FIELDS, "audio_sample"))
            raise ApiError(400, f"unknown field {unknown[0]!r}; the fields are {fields}", unknown[0])
        if "audio_sample" in texts:
            raise ApiError(400, "audio_sample must be a file part (the recording itself)", "audio_sample")
        if "name" not in texts:
            raise ApiError(400, "'name' is required", "name")
        consent = None
        if "consent" in files:
            consent = Consent(files["consent"], recording=True)
        elif "consent" in texts:
            if not 0 < len(texts["consent"]) <= MAX_CONSENT_ID_CHARS:
                raise ApiError(400, f"consent must be 1 to {MAX_CONSENT_ID_CHARS} characters", "consent")
            consent = Consent(texts["consent"].encode(), recording=False)
        voice = await library.create(
            texts["name"],
            sample=files.get("audio_sample"),
            transcript=texts.get("ref_text"),
            consent=consent,
            design=texts.get("speaker_description"),
            lora=texts.get("lora"),
        )
        return JSONResponse({**voice.public(), "success": True})

    async def one(request: Request) -> Response:
        return JSONResponse((await library.get(request.path_params["voice_id"])).public())

    async def delete(request: Request) -> Response:
        _admin(request, auth)
        voice = await library.delete(request.path_params["voice_id"])
        return JSONResponse(
            {
                "id": voice.id,
                "object": "audio.voice",
                "deleted": True,
                "success": True,
                "message": f"Voice {voice.name!r} deleted successfully",
            }
        )

    def guarded(endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            try:
                return await endpoint(request)
            except ApiError as err:
                return err.response()

        return run

    return [
        Route(VOICES_PATH, guarded(listing), methods=["GET"]),
        Route(VOICES_PATH, guarded(create), methods=["POST"]),
        Route(VOICES_PATH + "/{voice_id}", guarded(one), methods=["GET"]),
        Route(VOICES_PATH + "/{voice_id}", guarded(delete), methods=["DELETE"]),
    ]
