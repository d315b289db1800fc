import sys, collections
incl = collections.Counter(); leaf = collections.Counter(); total = 0
for line in open(sys.argv[1]):
    stack, n = line.rstrip().rsplit(" ", 1); n = int(n); total += n
    frames = stack.split(";")
    for f in set(frames): incl[f] += n
    leaf[frames[-1]] += n
print("total samples", total)
print("-- inclusive"); [print(f"{v:6d} {100*v/total:5.1f}% {k}") for k, v in incl.most_common(30)]
print("-- leaf"); [print(f"{v:6d} {100*v/total:5.1f}% {k}") for k, v in leaf.most_common(25)]
