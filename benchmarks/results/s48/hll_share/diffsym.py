"""Samples per symbol (each sample's leaf frame) of two `perf record` files, A minus B, largest first, with
each side's samples per thread. Usage: python3 diffsym.py A.data B.data [ROWS]"""
import subprocess, collections, re, sys
def load(f):
    out = subprocess.run(["perf","script","-i",f],capture_output=True,text=True).stdout
    c=collections.Counter(); tot=0; expect=False; thr=collections.Counter(); comm=None
    for line in out.split('\n'):
        if not line.strip(): expect=False; continue
        if not line.startswith((' ','\t')):
            expect=True; comm=line.split()[0]+":"+line.split()[1]; continue
        if expect:
            parts=line.strip().split(None,1)
            sym=re.sub(r'\+0x[0-9a-f]+','',parts[1]) if len(parts)>1 else '?'
            m=re.search(r'\(([^)]*)\)$',sym); dso=m.group(1).split('/')[-1] if m else '?'
            sym=re.sub(r' \(.*\)$','',sym)
            if sym.startswith('[unknown]') or re.match(r'^[0-9a-f]+$',sym): sym='?'+dso
            c[sym]+=1; thr[comm]+=1; tot+=1; expect=False
    return c,tot,thr
a,ta,tha=load(sys.argv[1]); b,tb,thb=load(sys.argv[2])
print("samples A",ta,"B",tb,"diff",ta-tb)
print("threads A",tha.most_common(4)); print("threads B",thb.most_common(4))
d=collections.Counter({k:a[k]-b[k] for k in set(a)|set(b)})
for k,v in d.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 30): print(f"{v:6d} {100*v/max(1,ta-tb):5.1f}%  A {a[k]:5d} B {b[k]:5d}  {k[:110]}")
