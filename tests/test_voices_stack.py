"""A stack's `voices:` and `speechApi:` sections as the pods get them: what `validate` refuses (naming the field),
what the runtime and router settings hold, the voices volume and the store's password, which reaches the pods only
through a Secret reference and never appears in the rendered YAML."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.support.schemas import validate_object
from tests.support.stacks import mutated
from voxdeploy.contracts.voices import OPENAI_VOICES
from voxdeploy.infra.builders import build_objects, voices, workloads
from voxdeploy.infra.builders.cloud import runtime_settings
from voxdeploy.infra.config import ConfigError, config_from_keys, parse_config
from voxdeploy.infra.config.voices import VOICES_DIR

PASSWORD_SECRET = {"name": "voice-db", "key": "password"}
STORE = {
    "host": "postgres.db.svc",
    "database": "voxdeploy",
    "user": "voxdeploy",
    "passwordSecret": PASSWORD_SECRET,
    "peer": {"namespace": "db", "podLabels": {"app.kubernetes.io/name": "postgresql"}, "port": 5432},
}
VOICES = {
    "voices": [
        {"name": "calm", "design": "A calm, low voice, speaking slowly"},
        {"name": "narrator", "reference": "narrator.wav", "transcript": "A short sample of the narrator."},
    ],
    "aliases": {"alloy": "narrator", "nova": "calm", "echo": "default"},
    "volumeClaim": "voice-files",
    "store": STORE,
    "adminKeys": ["ops"],
}
SPEECH_API = {"defaultFormat": "wav", "sampleRate": 48000, "modelAliases": ["tts-1", "gpt-4o-mini-tts"]}


def with_voices(stack: str, voices: dict | None = None, speech_api: dict | None = None) -> dict:
    document = mutated(stack, "voices", copy.deepcopy(VOICES if voices is None else voices))
    document["config"]["voxdeploy:speechApi"] = speech_api or SPEECH_API
    return document


def config_of(document: dict):
    return parse_config(config_from_keys(document["config"]), "test")


def refusals(document: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        config_of(document)
    return {issue.path: issue.message for issue in caught.value.issues}


def settings_of(objects: list[dict], name: str) -> tuple[dict, dict]:
    """(pod spec, settings document) of the workload `name`."""
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    (workload,) = [o for o in objects if o["kind"] in ("Deployment", "DaemonSet") and o["metadata"]["name"] == name]
    spec = workload["spec"]["template"]["spec"]
    (config_map,) = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
    return spec, yaml.safe_load(maps[config_map]["data"][workloads.RUNTIME_CONFIG_FILE])


def test_the_cloud_pods_serve_the_stacks_voices_from_the_volume_and_the_store() -> None:
    objects = build_objects(config_of(with_voices("prod")))
    spec, settings = settings_of(objects, "voxcpm")
    assert [v["name"] for v in settings["voices"]["voices"]] == ["calm", "narrator"]
    assert settings["voices"]["directory"] == VOICES_DIR
    assert settings["voices"]["aliases"]["alloy"] == "narrator" and settings["voices"]["aliases"]["nova"] == "calm"
    assert settings["voices"]["store"] == "postgresql://voxdeploy@postgres.db.svc:5432/voxdeploy"
    assert settings["auth"]["admins"] == ["ops"]
    assert (settings["speech"]["defaultFormat"], settings["speech"]["sampleRate"]) == ("wav", 48000)
    assert settings["speech"]["modelAliases"] == ["tts-1", "gpt-4o-mini-tts"]

    container = spec["containers"][0]
    (claim,) = [v for v in spec["volumes"] if v["name"] == voices.VOLUME]
    assert claim["persistentVolumeClaim"] == {"claimName": "voice-files", "readOnly": True}
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == claim["name"]]
    assert mount == {"name": claim["name"], "mountPath": VOICES_DIR, "readOnly": True}
    (password,) = [e for e in container["env"] if e["name"] == "PGPASSWORD"]
    assert password == {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": PASSWORD_SECRET}}
    for obj in objects:
        validate_object(obj)


def test_no_password_is_rendered_anywhere() -> None:
    rendered = yaml.safe_dump_all(build_objects(config_of(with_voices("prod"))))
    assert "postgresql://voxdeploy:" not in rendered and "PGPASSWORD" in rendered
    assert not [o for o in build_objects(config_of(with_voices("prod"))) if o["kind"] == "Secret"]


def test_serve_stack_outside_a_pod_keeps_only_what_it_can_reach() -> None:
    settings = runtime_settings(config_of(with_voices("prod")), in_pod=False)
    assert [v.name for v in settings.voices.voices] == ["calm"], "no volume outside a pod: the clone is left out"
    assert settings.voices.store is None and settings.voices.directory is None
    assert settings.voices.aliases["nova"] == "calm" and "alloy" not in settings.voices.aliases


def test_the_edge_serves_design_voices_and_the_router_sends_the_rest_to_the_cloud() -> None:
    objects = build_objects(config_of(with_voices("hybrid")))
    for pool in ("edge-jetson", "edge-i9"):
        _, edge = settings_of(objects, pool)
        assert [v["name"] for v in edge["voices"]["voices"]] == ["calm"] and edge["voices"]["store"] is None
    _, cloud = settings_of(objects, "voxcpm")
    assert [v["name"] for v in cloud["voices"]["voices"]] == ["calm", "narrator"]
    policy = settings_of(objects, "voxcpm-router")[1]["policy"]
    plain = set(policy["plainVoices"])
    assert {"default", "echo"} <= plain and not {"alloy", "nova", "calm", "narrator"} & plain
    assert set(OPENAI_VOICES) - {"alloy", "nova"} <= plain, "the OpenAI names left to default stay plain"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"aliases": {"alloy": "missing"}}, "voices", "missing"),
        ({"volumeClaim": None}, "voices.voices[1].reference", "voices.volumeClaim"),
        (
            {"voices": [{"name": "tuned", "lora": "tuned/adapter"}]},
            "voices.voices[0].lora",
            "voxdeploy serve --engine voxcpm --lora",
        ),
        ({"voices": [{"name": "two", "design": "A voice", "lora": "x"}]}, "voices.voices[0]", "exactly one of"),
        ({"voices": [{"name": "bad/name", "design": "A voice"}]}, "voices.voices[0].name", "pattern"),
        ({"store": {**STORE, "port": 0}}, "voices.store.port", "greater than or equal to 1"),
    ],
)
def test_validate_refuses_voices_no_pod_could_serve(change: dict, path: str, words: str) -> None:
    section = {**VOICES, **change}
    if section["volumeClaim"] is None:
        del section["volumeClaim"]
    found = refusals(with_voices("prod", section))
    assert path in found and words in found[path], found


def test_admin_keys_without_keys_are_refused() -> None:
    document = with_voices("prod", {"voices": [], "adminKeys": ["ops"]})
    document["config"]["voxdeploy:auth"] = {"required": False}
    assert "voices.adminKeys" in refusals(document)


def test_a_bad_speech_api_default_names_the_field_and_the_choices() -> None:
    found = refusals(with_voices("prod", speech_api={"defaultFormat": "ogg"}))
    assert "mp3" in found["speechApi.defaultFormat"] and "opus" in found["speechApi.defaultFormat"]
    assert "speechApi.sampleRate" in refusals(with_voices("prod", speech_api={"sampleRate": 44000}))
