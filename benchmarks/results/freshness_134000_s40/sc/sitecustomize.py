import os, sys
if os.environ.get("SF_SWITCH") and b"streamfeat.cli" in open("/proc/self/cmdline", "rb").read():
    sys.setswitchinterval(float(os.environ["SF_SWITCH"]))
