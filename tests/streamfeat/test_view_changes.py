"""A state directory that already consumed a topic refuses views without state in it —
new views or changed definitions would silently count only later events."""

from __future__ import annotations

import pytest

from streamfeat import Count, FeatureView, Sliding
from streamfeat.cli import main
from streamfeat.errors import StateError
from streamfeat.pipeline import FeaturePipeline
from streamfeat.state import RocksDBStateStore
from streamfeat.state import keys as layout
from tests.streamfeat.test_pipeline import ARRIVALS, PAYLOADS, VIEWS

USER_VIEW = VIEWS[0]


def changed(view: FeatureView) -> FeatureView:
    return FeatureView(
        view.name, entity=view.entity, source=view.source, allowed_lateness=view.allowed_lateness,
        features=[*view.features, Count(window=Sliding("2d"))],
    )  # fmt: skip


def consume(state: RocksDBStateStore, views, n: int = 500, **options) -> FeaturePipeline:
    pipeline = FeaturePipeline(views, state_store=state, **options)
    start = pipeline.next_offset("transactions", 0) or 0
    pipeline.process("transactions", 0, list(range(start, start + n)), PAYLOADS[start : start + n], ARRIVALS[start : start + n])
    return pipeline


def test_a_changed_definition_is_refused_with_what_to_do(tmp_path):
    with RocksDBStateStore(tmp_path / "s") as state:
        consume(state, [USER_VIEW])
        assert state.views() == {USER_VIEW.fingerprint(): USER_VIEW.name}
        consume(state, [USER_VIEW])  # the same definition continues
        new = changed(USER_VIEW)
        with pytest.raises(StateError) as info:
            FeaturePipeline([new], state_store=state)
        text = str(info.value)
        assert new.fingerprint() in text and USER_VIEW.fingerprint() in text
        assert "streamfeat backfill" in text and "--allow-new-views" in text
        consume(state, [new], allow_new_views=True)  # on purpose: starts empty
        assert set(state.views()) == {USER_VIEW.fingerprint(), new.fingerprint()}
        consume(state, [new])  # registered now, so it continues without the flag


def test_a_fresh_store_takes_any_view_and_older_stores_are_recognised(tmp_path):
    with RocksDBStateStore(tmp_path / "fresh") as state:
        FeaturePipeline([changed(USER_VIEW)], state_store=state)  # nothing consumed yet: fine
    with RocksDBStateStore(tmp_path / "old") as state:
        consume(state, [USER_VIEW])
        # a store written before views were registered: state keys but no registry entry
        state._write({}, [layout.view_registry_key(USER_VIEW.fingerprint())])
        assert state.views() == {}
        FeaturePipeline([USER_VIEW], state_store=state)
        assert state.views() == {USER_VIEW.fingerprint(): USER_VIEW.name}


def test_run_command_reports_a_changed_definition(tmp_path, capsys):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(PAYLOADS[:300]) + b"\n")
    features = tmp_path / "features.py"
    source = "from tests.streamfeat.test_pipeline import VIEWS\nuser_view = VIEWS[0]\n"
    features.write_text(source)
    assert main(["run", str(features), "--input", str(events), "--state-dir", str(tmp_path / "st")]) == 0
    features.write_text(source + "from tests.streamfeat.test_view_changes import changed\nuser_view = changed(user_view)\n")
    events.write_bytes(b"\n".join(PAYLOADS[:600]) + b"\n")
    capsys.readouterr()
    assert main(["run", str(features), "--input", str(events), "--state-dir", str(tmp_path / "st")]) == 1
    assert "have no state in this state store" in capsys.readouterr().err
    argv = ["run", str(features), "--input", str(events), "--state-dir", str(tmp_path / "st"), "--allow-new-views"]
    assert main(argv) == 0
