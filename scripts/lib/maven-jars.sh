# Sourced by scripts/kafka/kafka.sh and scripts/helm/helm.sh: fetch a pom's
# runtime jars from Maven Central (the only download these machines have) into
# a directory, once, and again only when the pom changes.
#
#   maven_jars <pom> <libs dir> <work dir> <jar glob that proves a fetch> <what, for messages>
#
# The jars land in <work dir>/libs.tmp first and replace <libs dir> only when
# mvn succeeded, so an interrupted fetch never leaves half a directory behind.
# Callers define die().

maven_jars() {
  local pom="$1" libs="$2" work="$3" proof="$4" what="$5"
  command -v java >/dev/null || die "java not found ($what needs Java 17+)"
  local want have=""
  want="$(sha256sum "$pom" | cut -d' ' -f1)"
  [[ -f "$libs/.pom.sha256" ]] && have="$(cat "$libs/.pom.sha256")"
  if [[ "$want" == "$have" ]] && compgen -G "$libs/$proof" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: it is needed once to fetch $what from Maven Central"
  printf '%s: fetching jars from Maven Central into %s (first run only) ...\n' "$what" "$libs" >&2
  local tmp="$work/libs.tmp"
  rm -rf "$tmp"
  mkdir -p "$work"
  if ! mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$tmp" -DincludeScope=runtime >"$work/mvn.log" 2>&1; then
    tail -n 40 "$work/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (full output: $work/mvn.log)"
  fi
  echo "$want" >"$tmp/.pom.sha256"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  printf '%s: fetched %s jars (%s)\n' "$what" "$(find "$libs" -name '*.jar' | wc -l)" "$(du -sh "$libs" | cut -f1)" >&2
}
