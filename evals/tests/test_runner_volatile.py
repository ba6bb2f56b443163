"""The judge's view of a run output: random ids and clock times numbered, so an unchanged re-run hits the cache."""

from __future__ import annotations

from evals.runner.volatile import stable_output

ORDER = {
    "reply": {"order_id": "ORD-1", "charge_id": "ch_9f2c0a1b2c3d4e5f", "shipment_id": "shp_0123456789abcdef",
              "tracking_number": "1Z0A1B2C3D4E5F6A7B"},
    "text": "Order ORD-1 is paid: tracking number 1Z0A1B2C3D4E5F6A7B.",
    "actions": [{"tool": "payments.charge", "status": "succeeded", "ref": "ch_9f2c0a1b2c3d4e5f"}],
}  # fmt: skip


def test_two_runs_differing_only_in_drawn_ids_look_the_same():
    other = {
        "reply": {**ORDER["reply"], "charge_id": "ch_aaaaaaaaaaaaaaaa", "shipment_id": "shp_bbbbbbbbbbbbbbbb",
                  "tracking_number": "1ZCCCCCCCCCCCCCCCC"},
        "text": "Order ORD-1 is paid: tracking number 1ZCCCCCCCCCCCCCCCC.",
        "actions": [{"tool": "payments.charge", "status": "succeeded", "ref": "ch_aaaaaaaaaaaaaaaa"}],
    }  # fmt: skip
    assert stable_output(ORDER, {}) == stable_output(other, {})


def test_the_same_value_gets_the_same_placeholder_and_the_prefix_stays():
    seen = stable_output(ORDER, {})
    assert seen["actions"][0]["ref"] == seen["reply"]["charge_id"]
    assert seen["reply"]["charge_id"].startswith("ch_#")
    assert seen["reply"]["tracking_number"].startswith("1Z#")
    assert seen["text"].endswith(f"tracking number {seen['reply']['tracking_number']}.")
    assert seen["reply"]["order_id"] == "ORD-1"  # not drawn: kept


def test_a_time_the_user_gave_is_kept_and_a_computed_one_numbered():
    output = {"reply": {"callback_at": "2026-12-09T10:00:00+00:00", "created_at": "2026-12-07T02:31:12.123Z"}}
    seen = stable_output(output, {"run_input": {"callback_at": "2026-12-09T10:00:00+00:00"}})
    assert seen["reply"]["callback_at"] == "2026-12-09T10:00:00+00:00"
    assert seen["reply"]["created_at"] == "#1"


def test_no_output_stays_none():
    assert stable_output(None, {}) is None
