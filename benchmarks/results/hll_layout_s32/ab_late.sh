# Alternate two checkouts on the late regime (late_only.py): OLD and NEW are repository roots
# with their own native operators built. Usage: OLD=/path NEW=/path bash ab_late.sh [Distinct|all]
here=$(cd "$(dirname "$0")" && pwd)
for i in 1 2 3; do
  for v in old new; do
    if [ $v = old ]; then P=$OLD; else P=$NEW; fi
    echo "$v $(cd "$P" && PYTHONPATH="$P" python3 "$here/late_only.py" "${1:-Distinct}")"
  done
done
