#!/usr/bin/env bash
# The preprocessing kernels must auto-vectorize: compiles each kernel file with the build's
# flags and GCC's vectorizer report, and checks that every kernel loop was vectorized.
# usage: check_vectorized.sh CXX SOURCE_DIR [extra flags...]
set -euo pipefail
cxx=$1
src=$2
shift 2
flags=(-std=c++20 -O3 -ffp-contract=off "$@" -I"$src" -fopt-info-vec-optimized)
status=0
# Each kernel loop is found by its source text, so edits elsewhere do not move the check.
check() {
  local file=$1 pattern=$2 what=$3 above=${4:-0}  # above: the loop is that many lines above the match
  local line
  line=$(grep -n -m1 -F "$pattern" "$src/$file" | cut -d: -f1)
  [[ -n $line ]] && line=$((line - above))
  if [[ -z $line ]]; then echo "FAIL: $file: no line matching '$pattern'"; status=1; return; fi
  local report
  report=$("$cxx" "${flags[@]}" -c "$src/$file" -o /dev/null 2>&1 | grep "$file:$line:.*loop vectorized using" || true)
  if [[ -n $report ]]; then
    echo "ok: $what ($file:$line) vectorized with $(grep -o "[0-9]* byte vectors" <<<"$report" | sort -u | tr '\n' ' ')"
  else
    echo "FAIL: $what ($file:$line) is not vectorized"
    status=1
  fi
}
check ops/preprocess_plan.cpp "dst[i] = saturate_cast<T>(v);" "tile load (convert to the compute type)" 3
check ops/preprocess_plan.cpp "const To v = saturate_cast<To>(src[i]);" "tile store (convert to the output type)" 1
check ops/scale.cpp "for (auto& v : values) v *= factor;" "scale"
check ops/normalize.cpp "for (auto& v : values) v = (v - mean) / std;" "normalize, one channel"
check ops/normalize.cpp "for (std::size_t i = 0; i < values.size(); ++i) values[i] = (values[i] - mean[i])" "normalize, per channel"
check ops/clip.cpp "for (auto& v : values) v = v < lo" "clip"
exit $status
