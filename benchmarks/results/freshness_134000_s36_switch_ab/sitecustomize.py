import os, sys
if os.environ.get("FLOW_SWITCH_S") and "streamfeat.cli" in " ".join(getattr(sys, "orig_argv", [])):
    sys.setswitchinterval(float(os.environ["FLOW_SWITCH_S"]))
