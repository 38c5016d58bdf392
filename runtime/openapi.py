"""The runtime's OpenAPI 3.1 description, from the request model: for schemathesis, and for users.

Every $ref resolves inside the document (the model's $defs are its components); the answers are described in
every encoding they come in, the streamed ones included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from voxdeploy.contracts.api import (
    ENGINE_HEADER,
    HEALTH_PATH,
    METRICS_PATH,
    MODELS_PATH,
    READY_PATH,
    SAMPLE_RATE_HEADER,
    SPEECH_PATH,
    VOICES_PATH,
)
from voxdeploy.contracts.version import VERSION
from voxdeploy.runtime.api import MULTIPART_TEXT_FIELDS, SpeechRequest
from voxdeploy.runtime.encoding import FORMATS
from voxdeploy.runtime.speech_events import EVENT_TYPES, SSE_MEDIA_TYPE

ERROR_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string", "description": "What is wrong, for a person."},
                "type": {"type": "string", "description": "invalid_request_error, rate_limit_exceeded, timeout, ..."},
                "param": {"type": ["string", "null"], "description": "The field or header at fault, if one is."},
                "code": {
                    "type": ["integer", "string", "null"],
                    "description": "The HTTP status; on a 401, OpenAI's code invalid_api_key.",
                },
            },
        }
    },
}
ERRORS = {
    400: "invalid request: the message names the field",
    401: "no API key, or one that matches none (servers with auth): send Authorization: Bearer <key>",
    408: "the request head or body did not arrive in time",
    413: "request body over speech.maxBodyBytes",
    404: "a model this server does not serve (code model_not_found; GET /v1/models lists the one it does)",
    415: "neither application/json nor multipart/form-data",
    429: "every slot and queue place taken, or the key's own share (auth.maxConcurrentPerKey); see Retry-After",
    431: "request head over server.maxHeaderBytes or server.maxHeaderCount fields",
    500: "engine or server failure",
    502: "the engine process answered badly",
    503: "engine loading, restarting or failed; see Retry-After",
    504: "no audio within server.requestTimeoutSeconds",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
SSE_DESCRIPTION = (
    "stream_format=sse (or stream=true alone, vLLM-Omni's way): server-sent events, each `event: <type>` and "
    "`data: <JSON>`: speech.audio.delta (`audio`: base64 of the next bytes of the response_format, "
    "`response_format`), then speech.audio.done (`usage`: input_tokens, output_tokens, total_tokens), or "
    "speech.audio.error (`error`: message, type, param, code) if the engine fails mid-way."
)
SSE_EVENT_SCHEMA: dict[str, object] = {
    "description": "One event of the stream (OpenAPI 3.1: the schema of an event stream is that of each event).",
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": list(EVENT_TYPES)},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
MULTIPART_DESCRIPTION = (
    "The same fields as parts. Text fields are the part as sent; numbers, booleans and extra_params are JSON "
    "text (speed=1.5, stream=true, extra_params={...}), as OpenAPI serializes them; voice is a name, or a JSON "
    "object when the part starts with `{`. ref_audio may be a file part (WAV, FLAC, OGG or MP3) instead of base64."
)


def _json(
    schema: Mapping[str, object], description: str, headers: Mapping[str, object] | None = None
) -> dict[str, object]:
    response: dict[str, object] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _multipart_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The request schema as multipart parts carry it: a text field cannot be null there (a part holding `null`
    is the text "null"; leaving the part out leaves the field unset)."""
    properties: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        members = field.get("anyOf", [])
        if name in MULTIPART_TEXT_FIELDS and {"type": "null"} in members:
            rest = [member for member in members if member != {"type": "null"}]
            field = {key: value for key, value in field.items() if key not in ("anyOf", "default")}
            field.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        properties[name] = field
    return {**schema, "title": "SpeechRequestForm", "properties": properties}


def openapi_spec() -> dict[str, object]:
    """OpenAPI 3.1 description of what the runtime serves, from the request model (for schemathesis and users);
    every $ref resolves inside the document (the model's $defs are its components)."""
    request_schema = SpeechRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas: dict[str, object] = {
        **request_schema.pop("$defs", {}),
        "SpeechRequest": request_schema,
        "SpeechRequestForm": _multipart_schema(request_schema),
    }
    schemas["Error"] = ERROR_SCHEMA
    error_ref = {"$ref": "#/components/schemas/Error"}
    binary = {"schema": {"type": "string", "format": "binary"}}
    status = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
    speech_errors = {
        str(code): _json(error_ref, text, RETRY_AFTER if code in (429, 503) else None) for code, text in ERRORS.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "voxdeploy speech runtime", "version": VERSION},
        "paths": {
            SPEECH_PATH: {
                "post": {
                    "operationId": "createSpeech",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SpeechRequest"}},
                            "multipart/form-data": {
                                "schema": {"$ref": "#/components/schemas/SpeechRequestForm"},
                                "encoding": {"extra_params": {"contentType": "application/json"}},
                            },
                        },
                        "description": MULTIPART_DESCRIPTION,
                    },
                    "responses": {
                        "200": {
                            "description": "The audio, streamed as it is made unless stream=false: the bytes of "
                            "the response_format (wav with an open-ended header), or " + SSE_DESCRIPTION,
                            "headers": {
                                ENGINE_HEADER: {"description": "The engine kind.", "schema": {"type": "string"}},
                                SAMPLE_RATE_HEADER: {
                                    "description": "The audio's sample rate in Hz.",
                                    "schema": {"type": "integer"},
                                },
                            },
                            "content": {
                                **{fmt.content_type: binary for fmt in FORMATS.values()},
                                SSE_MEDIA_TYPE: {"schema": SSE_EVENT_SCHEMA},
                            },
                        },
                        **speech_errors,
                    },
                }
            },
            **voice_paths(error_ref),
            HEALTH_PATH: {"get": {"operationId": "health", "responses": {"200": _json(status, "alive")}}},
            READY_PATH: {
                "get": {
                    "operationId": "ready",
                    "responses": {"200": _json(status, "ready"), "503": _json(status, "loading, failed or draining")},
                }
            },
            MODELS_PATH: {
                "get": {
                    "operationId": "listModels",
                    "responses": {"200": _json({"type": "object", "required": ["data"]}, "the one model served")},
                }
            },
            METRICS_PATH: {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }


VOICE_SCHEMA: dict[str, object] = {
    "type": "object",
    "required": ["id", "object", "name", "created_at", "kind", "source"],
    "properties": {
        "id": {"type": "string", "description": "voice_... for voices made here; the name for the server's own."},
        "object": {"const": "audio.voice"},
        "name": {"type": "string"},
        "created_at": {"type": "integer", "description": "Unix seconds (0 for the server's own voices)."},
        "kind": {"enum": ["default", "design", "clone", "lora"]},
        "source": {"enum": ["builtin", "settings", "api"]},
    },
}
VOICE_FORM: dict[str, object] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "description": "What requests name the voice by; unique."},
        "audio_sample": {"type": "string", "format": "binary", "description": "A clone voice's recording, 0.5-30 s."},
        "ref_text": {"type": "string", "description": "What the recording says (VoxCPM2's prompt mode)."},
        "speaker_description": {"type": "string", "description": "A design voice's description."},
        "lora": {"type": "string", "description": "A LoRA voice's adapter, relative to voices.directory."},
        "consent": {"type": "string", "description": "The speaker's consent: a recording (file) or its id."},
    },
}


def voice_paths(error_ref: Mapping[str, object]) -> dict[str, object]:
    """/v1/audio/voices and /v1/audio/voices/{voice_id}."""
    voice = _json(VOICE_SCHEMA, "the voice")
    errors = {
        str(code): _json(error_ref, text)
        for code, text in {
            400: "invalid field, named in the error",
            401: "no API key, or a wrong one",
            403: "the key may not change the library (auth.admins)",
            404: "no such voice",
            405: "the library is read-only (no voices.store)",
            409: "the name is taken, or the voice is the server's own",
            413: "body over speech.maxBodyBytes",
            503: "the voice store is unavailable",
        }.items()
    }
    voice_id = [{"name": "voice_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    listing = {"type": "object", "required": ["object", "data"], "properties": {"data": {"type": "array"}}}
    return {
        VOICES_PATH: {
            "get": {"operationId": "listVoices", "responses": {"200": _json(listing, "every voice"), **errors}},
            "post": {
                "operationId": "createVoice",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": VOICE_FORM}}},
                "responses": {"200": voice, **errors},
            },
        },
        VOICES_PATH + "/{voice_id}": {
            "get": {"operationId": "getVoice", "parameters": voice_id, "responses": {"200": voice, **errors}},
            "delete": {
                "operationId": "deleteVoice",
                "parameters": voice_id,
                "responses": {"200": _json({"type": "object", "required": ["id", "deleted"]}, "deleted"), **errors},
            },
        },
    }
