"""The simulation's A/B logs normalised by a thread the change does not touch: the native apply+publish's
main-thread CPU over the online writer's thread CPU (the writer runs streamfeat/_store_native, glibc's malloc in
every build here), so that the machine's speed in each run cancels. Usage: python3 sim_ratios.py LOG..."""
import re
import sys

for path in sys.argv[1:]:
    for block in open(path).read().split("== ")[1:]:
        name, pair = block.split()[0], block.split()[2]
        threads = re.search(r"thread cpu s: \{'python3-\d+': ([\d.]+), 'python3-\d+': ([\d.]+)", block)
        applied = re.search(r"main-thread cpu ([\d.]+) s", block)
        if not (threads and applied):
            continue
        main, writer, apply = float(threads.group(1)), float(threads.group(2)), float(applied.group(1))
        print(f"{path.rsplit('/', 1)[-1]} {name} pair {pair}: apply {apply:.2f} s, writer {writer:.2f} s, "
              f"apply/writer {apply / writer:.3f}, rest of the main thread (set-up included)/writer {(main - apply) / writer:.3f}")
