#!/usr/bin/env bash
# Points the code's references to the algorithm at the document inside the repository:
# comments and docs cite "SPEC §2.2" of a specification that lives outside the checkout;
# docs/algorithm.md keeps that document's section numbers, so each citation becomes
# "docs/algorithm.md §2.2" with the number untouched.
#
# Usage: scripts/rewrite-spec-refs.sh           rewrite in place, print what changed
#        scripts/rewrite-spec-refs.sh --check   change nothing; exit 1 if a reference is left
#
# Scope: tracked text files under native/ lib/ bench/ test/ scripts/ docs/ plus README.md,
# ARCHITECTURE.md and CONTRIBUTING.md (this script excepted: its own patterns would be
# rewritten). Idempotent: the replacements contain no "SPEC", so a second run finds
# nothing to do.
#
# The rewrites (GNU sed -z, so a citation wrapped across a line break still matches):
#   SPEC §x                     -> docs/algorithm.md §x   (also "SPEC\n§x")
#   SPEC's tie rules            -> the tie rules of docs/algorithm.md §2.8.5
#   the SPEC's shape            -> the shape of docs/algorithm.md §2.4
#   the SPEC [upsampling] chain -> the upsampling chain of docs/algorithm.md §2.5
#   README's "paper in `../shared/paper`" -> a link to its Citation section
# Anything else still spelled SPEC is listed at the end for a person to reword.
#
# The citations grow by 13 characters, so a comment line near the column limit may now
# exceed it: run the formatter (clang-format / the TypeScript formatter) after this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=rewrite
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

self=scripts/rewrite-spec-refs.sh
roots=(native lib bench test scripts docs README.md ARCHITECTURE.md CONTRIBUTING.md)

# The candidate files: tracked ones in a git checkout, every file otherwise (e.g. an
# unpacked copy); text only (grep -I), and only those that mention SPEC at all.
list_files() {
  local present=()
  for r in "${roots[@]}"; do [[ -e "$r" ]] && present+=("$r"); done
  [[ ${#present[@]} -eq 0 ]] && return 0
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -- "${present[@]}"
  else
    find "${present[@]}" -type f -print0
  fi | xargs -0 -r grep -IlZ -- 'SPEC' 2>/dev/null | tr '\0' '\n' | grep -vxF "$self" || true
}

# One sed program; \x27 is the apostrophe (keeps the quoting of this script simple).
program='
s/SPEC([[:space:]]+)§/docs\/algorithm.md\1§/g
s/SPEC\x27s tie rules/the tie rules of docs\/algorithm.md §2.8.5/g
s/the SPEC\x27s shape/the shape of docs\/algorithm.md §2.4/g
s/([Tt]he) SPEC (upsampling )?chain/\1 upsampling chain of docs\/algorithm.md §2.5/g
s/paper in `\.\.\/shared\/paper`/paper: see [Citation](#citation)/g
'

references() {  # count of SPEC citations/mentions the program rewrites, in one file
  { grep -oE "SPEC[[:space:]]+§|SPEC's tie rules|the SPEC's shape|[Tt]he SPEC (upsampling )?chain|paper in \`\.\./shared/paper\`" "$1" || true; } | wc -l
}

total=0
changed=0
while IFS= read -r f; do
  [[ -z "$f" ]] && continue
  # grep is line-based: a citation wrapped after "SPEC" is counted by a whole-file match.
  n=$(references "$f")
  wrapped=$(sed -zE 's/SPEC\n[[:space:]]*§/@@WRAPPED@@/g' "$f" | grep -c '@@WRAPPED@@' || true)
  n=$((n + wrapped))
  [[ $n -eq 0 ]] && continue
  total=$((total + n))
  changed=$((changed + 1))
  if [[ $mode == rewrite ]]; then
    sed -zE -i "$program" "$f"
    printf '%4d  %s\n' "$n" "$f"
  else
    printf '%4d  %s (not rewritten)\n' "$n" "$f"
  fi
done < <(list_files)

echo "rewrite-spec-refs: $total reference(s) in $changed file(s)$([[ $mode == check ]] && echo ' to rewrite' || echo ' rewritten')"

# Whatever would still say SPEC as a word after the rewrite (a phrasing the program does
# not know), with its line number.
left=$(list_files | while IFS= read -r f; do
  [[ -n "$f" ]] && { sed -zE "$program" "$f" | tr '\0' '\n' | grep -nw 'SPEC' | sed "s|^|$f:|" || true; }
done)
if [[ -n "$left" ]]; then
  echo "rewrite-spec-refs: still mentioning SPEC after the rewrite (reword by hand):"
  echo "$left"
fi

if [[ $mode == check && ( $total -gt 0 || -n "$left" ) ]]; then exit 1; fi
exit 0
