"""The reference article's decision table as a function: every row reachable, each from its own targets."""

from __future__ import annotations

import pytest

from voxdeploy.infra.capacity.decision import Targets, recommend
from voxdeploy.infra.capacity.reference import (
    CUSTOMER_SERVICE,
    DECISION_TABLE,
    EDUCATION_CONTENT,
    MOBILE_APP,
    MULTILINGUAL_CONTENT,
    VOICE_ASSISTANT,
)

SCENARIOS = [  # the article's rows, by the targets it states for them
    (Targets(rtf=0.15, qps=500), CUSTOMER_SERVICE),
    (Targets(rtf=3.0, qps=20, offline=True), MOBILE_APP),
    (Targets(rtf=0.2, qps=100, offline=True), MULTILINGUAL_CONTENT),
    (Targets(rtf=0.3, qps=20, personalised_voice=True), VOICE_ASSISTANT),
    (Targets(rtf=0.2, qps=200, batch=True), EDUCATION_CONTENT),
]


@pytest.mark.parametrize(("targets", "row"), SCENARIOS, ids=[row.scenario for _, row in SCENARIOS])
def test_each_row_is_recommended_for_its_own_targets(targets: Targets, row: object) -> None:
    assert recommend(targets).row == row


def test_every_row_of_the_table_is_reachable() -> None:
    assert {row for _, row in SCENARIOS} == set(DECISION_TABLE)


def test_offline_faster_than_the_edge_goes_hybrid() -> None:
    recommendation = recommend(Targets(rtf=1.0, qps=5, offline=True))
    assert recommendation.row == MULTILINGUAL_CONTENT
    assert "cannot reach RTF 1" in recommendation.reason


def test_personalised_voices_faster_than_lora_edge_fall_back_to_the_other_rules() -> None:
    assert recommend(Targets(rtf=0.2, qps=20, personalised_voice=True)).row == CUSTOMER_SERVICE
    assert recommend(Targets(rtf=2.0, qps=20, personalised_voice=True, offline=True)).row == VOICE_ASSISTANT


def test_qps_sets_the_replica_note_not_the_mode() -> None:
    small, large = recommend(Targets(rtf=0.3, qps=30)), recommend(Targets(rtf=0.3, qps=3000))
    assert small.row == large.row == CUSTOMER_SERVICE
    assert "one replica suffices" in small.reason
    assert "scaled out" in large.reason


def test_faster_than_the_cluster_row_needs_mixed_batching() -> None:
    assert "mixed-batching" in recommend(Targets(rtf=0.12, qps=500)).reason


def test_faster_than_anything_measured_has_no_mode() -> None:
    recommendation = recommend(Targets(rtf=0.05, qps=500))
    assert recommendation.row is None
    assert "best measured is 0.1" in recommendation.reason
