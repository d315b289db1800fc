import collections,sys
stacks=[];cur=[]
for line in open("late.script"):
    line=line.rstrip("\n")
    if not line.strip():
        if cur: stacks.append(cur); cur=[]
        continue
    if not line.startswith((" ","\t")):
        cur=[line]; continue
    cur.append(line.strip().split(None,1)[1].rsplit(" (",1)[0])
N=len(stacks)
c=collections.Counter()
for s in stacks:
    for x in set(s[1:]): c[x]+=1
for k,v in c.most_common(400):
    if any(t in k for t in sys.argv[1:]) : print(f"{100*v/N:5.1f} {k[:150]}")
