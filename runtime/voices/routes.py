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

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxdeploy.contracts.api import VOICES_PATH
from voxdeploy.contracts.auth import ApiKeys
from voxdeploy.contracts.voices import DESIGN_MAX_CHARS, TRANSCRIPT_MAX_CHARS, VOICE_NAME_PATTERN
from voxdeploy.runtime.api import first_error
from voxdeploy.runtime.auth import caller_name
from voxdeploy.runtime.http import ApiError, read_form
from voxdeploy.runtime.voices.library import Consent, VoiceLibrary

FILE_FIELDS = frozenset({"audio_sample", "consent"})


class VoiceForm(BaseModel):
    """The text parts of a POST, with the limits a voice of the settings has (VoiceSpec's)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{VOICE_NAME_PATTERN}$")
    ref_text: str | None = Field(None, min_length=1, max_length=TRANSCRIPT_MAX_CHARS)
    speaker_description: str | None = Field(None, min_length=1, max_length=DESIGN_MAX_CHARS)
    lora: str | None = Field(None, min_length=1, max_length=1024)
    consent: str | None = Field(None, min_length=1, max_length=256, description="A consent record's id.")


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
        if "audio_sample" in texts:
            raise ApiError(400, "audio_sample must be a file part (the recording itself)", "audio_sample")
        try:
            form = VoiceForm.model_validate(texts)
        except ValidationError as err:
            param, message = first_error(err)
            raise ApiError(400, message, param) from None
        consent = None
        if "consent" in files:
            consent = Consent(files["consent"], recording=True)
        elif form.consent is not None:
            consent = Consent(form.consent.encode(), recording=False)
        voice = await library.create(
            form.name,
            sample=files.get("audio_sample"),
            transcript=form.ref_text,
            consent=consent,
            design=form.speaker_description,
            lora=form.lora,
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

    def by_method(**endpoints: Endpoint) -> Endpoint:
        """One route per path, so a 405's Allow lists every method the path takes, not one route's."""

        async def run(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            try:
                return await endpoints[method](request)
            except ApiError as err:
                return err.response()

        return run

    return [
        Route(VOICES_PATH, by_method(GET=listing, POST=create), methods=["GET", "POST"]),
        Route(VOICES_PATH + "/{voice_id}", by_method(GET=one, DELETE=delete), methods=["GET", "DELETE"]),
    ]
