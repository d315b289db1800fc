"""Run the simulation with evicted native states freed on the main thread (no release_states). Usage (repository
root): APPLY_T=1 WAL=0 PYTHONPATH=. python3 nofreethread.py benchmarks/results/pipeline_late_regime_s32/pipe_sim_fresh.py 4000000 1500"""
import runpy, sys
import operators.native as N
if hasattr(N.NativeViewOperator, "release_states"):
    del N.NativeViewOperator.release_states
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
