# Bound experiment (not a correct flow): with STREAMFEAT_BOUND_NOSTATE=1 a commit writes only offsets and
# metadata to RocksDB, not the states (run with a cache large enough that nothing is evicted).
import os
if os.environ.get("STREAMFEAT_BOUND_NOSTATE") == "1":
    from streamfeat.state import store as _st
    from streamfeat.state import keys as _layout
    _orig = _st.RocksDBStateStore._write
    _keep = (_layout.OFFSET_PREFIX, _layout.META_PREFIX)
    def _write(self, puts, deletes, ordered=None):
        kept = {k: v for k, v in puts.items() if k.startswith(_keep)}
        return _orig(self, kept, [], None)
    _st.RocksDBStateStore._write = _write
